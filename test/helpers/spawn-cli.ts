// Spawns the built CLI (dist/cli.js) as a real process and reads the proxy port from its start line.
import { spawn, type ChildProcess } from 'node:child_process';
import { repoPath } from './paths.js';

export const CLI = repoPath('dist/cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface RunningCli {
  child: ChildProcess;
  port: number;
  adminPort: number | null;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `maxFds`: the process's file-descriptor limit (`ulimit -n` in a shell that then execs node). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { maxFds?: number } = {}): Promise<RunningCli> {
  return new Promise((resolve, reject) => {
    const argv = [CLI, 'start', '--listen', '127.0.0.1:0', ...args];
    const [cmd, cmdArgs] = opts.maxFds
      ? ['/bin/sh', ['-c', `ulimit -n ${opts.maxFds} && exec "$0" "$@"`, process.execPath, ...argv]]
      : [process.execPath, argv];
    const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /proxy on [^ ]+:(\d+)(?:, admin on http:\/\/[^ ]+:(\d+)\/)?/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), adminPort: m[2] ? Number(m[2]) : null, stderr: () => err, exited });
    });
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`proxy did not start: ${err}`));
    }, 15000);
    void exited.then(() => {
      clearTimeout(t);
      reject(new Error(`proxy exited: ${err}`));
    });
  });
}
