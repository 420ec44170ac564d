// A worker running the probe plugin over the shared map (wasi.test.ts): the
// component comes compiled in workerData (nothing is transpiled or compiled
// here) and gets a fresh import object over its namespace; then the worker
// reports ready, waits at the barrier and runs its script once. Worker i
// uses namespace workerData.namespaces[i].
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { PluginComponent, keyValueImports, openResources } from '../../dist/wasi.js';

const map = await SharedMap.attach(workerData.handle);
const component = await PluginComponent.fromHandle(workerData.plugin);
const imports = keyValueImports(map.namespace(workerData.namespaces[workerData.index]), workerData.policy);
const plugin = component.instantiate(imports);
parentPort.postMessage({ ready: true });
Atomics.wait(workerData.barrier, 0, 0);
const output = plugin.handle(workerData.script);
const resources = openResources(imports);
map.close();
parentPort.postMessage({ result: { output, resources } });
