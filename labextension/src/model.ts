/**
 * GraphModel: the front-end mirror of proppo_lab.lab.GraphWidget's traits.
 *
 * The view never writes these back (the kernel refuses direct state writes);
 * it speaks to the kernel through validated custom messages.
 */
import { DOMWidgetModel, ISerializers } from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION } from './version';

export class GraphModel extends DOMWidgetModel {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  defaults(): any {
    return {
      ...super.defaults(),
      _model_name: GraphModel.model_name,
      _model_module: GraphModel.model_module,
      _model_module_version: GraphModel.model_module_version,
      _view_name: GraphModel.view_name,
      _view_module: GraphModel.view_module,
      _view_module_version: GraphModel.view_module_version,
      dot: '',
      graph: {},
      catalogue: [],
      plan: {},
      selected: '',
      view: 'rolled',
      flows: {},
      error: {},
      status: '',
      svg: ''
    };
  }

  static serializers: ISerializers = {
    ...DOMWidgetModel.serializers
  };

  static model_name = 'GraphModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'GraphView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}
