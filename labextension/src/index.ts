/**
 * The JupyterLab / Notebook 7 plugins: the "proppo-lab" widget module (the view
 * lives in graph_view.ts) and the tutorials command/launcher card
 * (launcher.ts), and the Lab's plots following their cells' width (plot_fit.ts).
 * The kernel-less graph renderer is a mime extension (mime.ts,
 * package.json "mimeExtension").
 */
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { GraphModel } from './model';
import { GraphView } from './graph_view';
import { tutorialsPlugin } from './launcher';
import { plotFitPlugin } from './plot_fit';
import { MODULE_NAME, MODULE_VERSION } from './version';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'proppo-lab:graph-widget',
  description: 'The proppo_lab propagation-graph widget.',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: { GraphModel, GraphView }
    });
  }
};

export default [plugin, tutorialsPlugin, plotFitPlugin];
