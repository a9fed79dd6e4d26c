// Lets the node-side type check (tsconfig.node.json) accept the .vue imports of the component tests.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- props are checked by vue-tsc on the components themselves
  const component: DefineComponent<any, any, any>;
  export default component;
}
