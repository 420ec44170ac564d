// Runs one stress role (roles.mjs) in a worker.
import { finish, start } from './common.mjs';
import { roles } from './roles.mjs';

const { map, data } = await start();
finish(map, roles(map)[data.role]({ ...data.params, writer: data.index + 1 }));
