// The probe plugin (world `plugin`): runs scripts of key-value commands, see
// commands.ts. Tests and the benchmark drive the host through it.
export { cabi_realloc } from './abi';
export { handle, cabi_post_handle } from './commands';
