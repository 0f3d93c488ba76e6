/**
 * The widget module's name and version, read from package.json so that the
 * Python side (_model_module_version "^0.1.0") and the bundle cannot drift.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
declare const require: (path: string) => { name: string; version: string };
const data = require('../package.json');

export const MODULE_NAME: string = data.name;
export const MODULE_VERSION: string = data.version;
