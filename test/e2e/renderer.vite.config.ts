// Builds only the renderer into out/renderer (what electron-vite's renderer step does), for the e2e suite
// when the main/preload builds are not needed: `npx vite build --config test/e2e/renderer.vite.config.ts`.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  root: resolve('renderer'),
  base: './',
  plugins: [vue()],
  build: {
    outDir: resolve('out/renderer'),
    emptyOutDir: true,
    rollupOptions: { input: { index: resolve('renderer/index.html') } },
  },
});
