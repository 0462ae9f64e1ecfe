// The browser modeler bundle: bpmn-js's modeler with the Camunda 7 properties panel, as window.LooplineModeler.
// Built with `npm run build-modeler` into web/static/vendor/modeler/ (committed: the app runs without Node).
import BpmnModeler from "bpmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";

// Build a modeler in `container` whose properties panel renders into `propertiesParent`.
function create(container, propertiesParent, options) {
  return new BpmnModeler(Object.assign({
    container: container,
    propertiesPanel: { parent: propertiesParent },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,
    ],
    moddleExtensions: { camunda: camundaModdle },
  }, options || {}));
}

window.LooplineModeler = { create: create, Modeler: BpmnModeler };
