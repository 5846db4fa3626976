import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

type SandboxStateModule = typeof import('./sandbox-state');

/**
 * The helpers find the sandbox they are told to (PORT, PD_ROUTER_URL, the default port, the only
 * one running); when several run and nothing says which, they say which run and how to pick one.
 * Each case works in its own folder, as `npm start` writes hand-off files under the current one.
 */
describe('which sandbox a helper command talks to', () => {
  const original = process.cwd();
  let cwd: string;
  let state: SandboxStateModule;

  const handOff = (port: number, pid: number | undefined) => {
    mkdirSync(path.join(cwd, '.local-data'), { recursive: true });
    const url = `http://127.0.0.1:${port}`;
    writeFileSync(path.join(cwd, '.local-data', `sandbox-${port}.json`), JSON.stringify({ url, slackApiUrl: `${url}/api/`, pagerDutyUrl: url, slackSigningSecret: 's', pagerDutySigningKey: 'k', ...(pid ? { pid } : {}) }));
  };
  /** The pid of a process that has exited: what a killed stack's hand-off file names. */
  const gonePid = () => spawnSync(process.execPath, ['-e', '']).pid!;

  beforeEach(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'pd-router-sandbox-state-'));
    process.chdir(cwd);
    jest.isolateModules(() => {
      state = jest.requireActual<SandboxStateModule>('./sandbox-state');
    });
  });

  afterEach(() => {
    process.chdir(original);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('with two stacks and no PORT, names them and how to pick one', () => {
    handOff(3101, process.pid);
    handOff(3102, process.pid);
    expect(state.readSandboxState({})).toBeUndefined();
    expect(state.whichSandboxLine({}, 'npm run sandbox -- list')).toBe('2 sandboxes are running, on ports 3101 and 3102: say which with PORT, e.g. `PORT=3101 npm run sandbox -- list`');
    // Told which, nothing more to say.
    expect(state.readSandboxState({ PORT: '3102' })?.url).toBe('http://127.0.0.1:3102');
    expect(state.whichSandboxLine({ PORT: '3102' }, 'npm run sandbox -- list')).toBeUndefined();
    expect(state.whichSandboxLine({ PD_ROUTER_URL: 'http://127.0.0.1:3101' }, 'npm run sandbox -- list')).toBeUndefined();
  });

  it('passes over the hand-off file a killed stack left behind', () => {
    handOff(3101, gonePid());
    handOff(3102, process.pid);
    expect(state.runningSandboxes().map((s) => s.url)).toEqual(['http://127.0.0.1:3102']);
    expect(state.readSandboxState({})?.url).toBe('http://127.0.0.1:3102');
    expect(state.whichSandboxLine({}, 'npm run doctor')).toBeUndefined();
  });

  it('has nothing to add when none runs, or one does', () => {
    expect(state.whichSandboxLine({}, 'npm run doctor')).toBeUndefined();
    handOff(3103, undefined);
    expect(state.readSandboxState({})?.url).toBe('http://127.0.0.1:3103');
    expect(state.whichSandboxLine({}, 'npm run doctor')).toBeUndefined();
  });
});
