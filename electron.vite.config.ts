import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';

// One build tool for the three parts. Native and heavy runtime packages stay external in main
// (they are loaded from node_modules, unpacked from the asar when packaged).
export default defineConfig({
  main: {
    build: {
      externalizeDeps: true,
      rollupOptions: {
        input: {
          index: resolve('main/electron/index.ts'),
          cli: resolve('main/cli.ts'),
          'inference-worker': resolve('main/service/inference-worker.ts'),
        },
        external: ['electron', 'better-sqlite3', 'onnxruntime-node', '@huggingface/transformers', 'sharp'],
      },
    },
  },
  preload: {
    build: {
      rollupOptions: {
        input: { index: resolve('preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve('renderer'),
    plugins: [vue()],
    build: {
      // Minified: the same bundle is inlined into every HTML report.
      minify: true,
      rollupOptions: { input: { index: resolve('renderer/index.html') } },
    },
  },
});
