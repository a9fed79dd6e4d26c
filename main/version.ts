// The app version recorded in every run (provenance), read from package.json at build time.
import packageJson from '../package.json';

export const APP_VERSION: string = packageJson.version;
