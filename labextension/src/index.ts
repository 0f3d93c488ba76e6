/**
 * The JupyterLab / Notebook 7 plugin: registers the "proppo-lab" widget module.
 * Nothing else happens here; the view lives in graph_view.ts.
 */
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { GraphModel } from './model';
import { GraphView } from './graph_view';
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

export default plugin;
