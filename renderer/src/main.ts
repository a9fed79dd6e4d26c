// Entry point: pick the client (IPC, HTTP or embedded report data), then mount the app.
import { createApp } from 'vue';
import App from './App.vue';
import { installPageClient } from './client';
import './styles.css';

installPageClient();
createApp(App).mount('#app');
