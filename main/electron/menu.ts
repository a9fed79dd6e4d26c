// The application menu: the platform's usual Edit/View/Window menus, plus the data folder and About.
import { app, Menu, shell, type MenuItemConstructorOptions } from 'electron';

export function buildMenu(options: { dataFolder: string; version: string }): Menu {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Data Folder', click: () => void shell.openPath(options.dataFolder) },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { role: 'toggleDevTools' },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [
        {
          label: 'About LLM Explainer Workbench',
          click: () => app.showAboutPanel(),
        },
      ],
    },
  ];
  app.setAboutPanelOptions({ applicationName: 'LLM Explainer Workbench', applicationVersion: options.version });
  return Menu.buildFromTemplate(template);
}
