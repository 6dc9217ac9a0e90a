/**
 * A real one-node Slurm for tests: munged (as user munge), slurmctld and slurmd started by hand
 * (no systemd) with a slurm.conf in a temp directory, and stopped through their PID files.
 * Debian's `slurmctld slurmd slurm-client munge` packages (.ci/run installs them); run as root
 * (slurmd needs it for its cgroups and to start jobs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLocalPort, processAlive } from '../../src/shared/proc.js';

const PROGRAMS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo', 'runuser'];

/** Why this machine cannot run the Slurm test, or undefined when it can. */
export function slurmMissing(): string | undefined {
  const missing = PROGRAMS.filter((p) => spawnSync('sh', ['-c', `command -v ${p} || test -x /usr/sbin/${p}`]).status !== 0);
  if (missing.length) return `${missing.join(', ')} not found: install Debian's slurmctld slurmd slurm-client munge (apt-get install -y slurmctld slurmd slurm-client munge; .ci/run does)`;
  if (process.getuid?.() !== 0) return 'the Slurm test starts slurmd, which must run as root: run it as root (CI does)';
  if (spawnSync('id', ['-u', 'munge']).status !== 0) return "no 'munge' user: install Debian's munge package";
  return undefined;
}

/** Job fields from `scontrol show job -o`. */
export interface JobInfo {
  state: string;
  exitCode: string;
  restarts: number;
  /** TimeLimit, as scontrol prints it (e.g. 00:30:00, 02:00:00). */
  timeLimit: string;
}

export class SlurmCluster {
  readonly env: NodeJS.ProcessEnv;
  private constructor(readonly dir: string) {
    this.env = { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') };
  }

  /**
   * Starts munged, slurmctld and slurmd; resolves once the node is idle. On failure everything
   * started is stopped and the error carries the daemons' log tails.
   */
  static async start(): Promise<SlurmCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'gan-slurm-'));
    // munged checks every directory above its socket: readable and searchable by all.
    chmodSync(dir, 0o755);
    const cluster = new SlurmCluster(dir);
    try {
      await cluster.boot();
      return cluster;
    } catch (err) {
      const logs = ['munge/munged.log', 'slurmctld.log', 'slurmd.log'].map((f) => `--- ${f}\n${cluster.tail(f)}`).join('\n');
      await cluster.stop();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }

  private async boot(): Promise<void> {
    const { dir } = this;
    const munge = join(dir, 'munge');
    for (const d of ['state', 'spool']) mkdirSync(join(dir, d));
    mkdirSync(munge, { mode: 0o755 });
    const uid = Number(execFileSync('id', ['-u', 'munge'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'munge'], { encoding: 'utf8' }));
    writeFileSync(join(munge, 'munge.key'), randomBytes(1024), { mode: 0o600 });
    chownSync(munge, uid, gid);
    chownSync(join(munge, 'munge.key'), uid, gid);
    const socket = join(munge, 'munge.sock');
    execFileSync('runuser', ['-u', 'munge', '--', munged(), `--socket=${socket}`, `--key-file=${join(munge, 'munge.key')}`, `--pid-file=${join(munge, 'munged.pid')}`, `--log-file=${join(munge, 'munged.log')}`, `--seed-file=${join(munge, 'munged.seed')}`], { stdio: 'pipe' });

    const [ctldPort, slurmdPort] = [await freeLocalPort(), await freeLocalPort()];
    // The job id sets the coordinator's ports (train.sbatch): a random start keeps parallel runs apart.
    const firstJobId = randomInt(1_000, 19_000);
    writeFileSync(join(dir, 'slurm.conf'), [
      'ClusterName=gantest',
      'SlurmctldHost=localhost(127.0.0.1)',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      // cred_expire is also how long a requeued job waits before it starts again (default 120 s).
      `AuthInfo=socket=${socket},cred_expire=10`,
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
      // proctrack/linuxproc left a process behind after scancel; cgroups find every one.
      'ProctrackType=proctrack/cgroup',
      'TaskPlugin=task/cgroup',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'GresTypes=gpu',
      'MpiDefault=none',
      'ReturnToService=2',
      'KillWait=30',
      // Finished jobs stay visible to `scontrol show job` for 5 minutes.
      'MinJobAge=300',
      `FirstJobId=${firstJobId}`,
      'SchedulerParameters=sched_interval=1',
      // Two stand-in GPUs (device files that exist; nothing opens them) so train.sbatch's
      // --gpus-per-task=1 is honoured: Slurm hands each task its own CUDA_VISIBLE_DEVICES.
      'NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 Gres=gpu:2 State=UNKNOWN',
      // A partition limit under a day, as many clusters have: the scripts ask for no --time, so
      // their jobs start with this limit (one that asked for more would pend forever).
      'PartitionName=debug Nodes=localhost Default=YES MaxTime=02:00:00 State=UP',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'cgroup.conf'), ['ConstrainCores=no', 'ConstrainRAMSpace=no', 'ConstrainSwapSpace=no', 'ConstrainDevices=no', ''].join('\n'));
    writeFileSync(join(dir, 'gres.conf'), 'NodeName=localhost Name=gpu File=/dev/tty[0-1]\n');

    const conf = join(dir, 'slurm.conf');
    execFileSync(sbin('slurmctld'), ['-f', conf], { env: this.env, stdio: 'pipe' });
    // The node is called localhost in slurm.conf; the machine's hostname is something else.
    execFileSync(sbin('slurmd'), ['-f', conf, '-N', 'localhost'], { env: this.env, stdio: 'pipe' });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = spawnSync('sinfo', ['-h', '-o', '%T'], { env: this.env, encoding: 'utf8' });
      if (r.status === 0 && r.stdout.trim() === 'idle') return;
      if (Date.now() > deadline) throw new Error(`the Slurm node did not become idle within 60 s (sinfo: ${(r.stdout + r.stderr).trim()})`);
      await sleep(500);
    }
  }

  private tail(file: string): string {
    const p = join(this.dir, file);
    return existsSync(p) ? readFileSync(p, 'utf8').split('\n').slice(-15).join('\n') : '(none)';
  }

  /** Runs a Slurm client command against this cluster; throws with its output when it fails. */
  run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
    const r = spawnSync(cmd, args, { env: { ...this.env, ...opts.env }, cwd: opts.cwd, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stdout + r.stderr).trim()}`);
    return r.stdout;
  }

  /** `sbatch --parsable …`: the job id. */
  submit(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): number {
    return Number(this.run('sbatch', ['--parsable', ...args], opts).trim().split(';')[0]);
  }

  job(id: number): JobInfo {
    const line = this.run('scontrol', ['show', 'job', '-o', String(id)]);
    const field = (name: string) => new RegExp(`\\b${name}=(\\S+)`).exec(line)?.[1] ?? '';
    return { state: field('JobState'), exitCode: field('ExitCode'), restarts: Number(field('Restarts') || 0), timeLimit: field('TimeLimit') };
  }

  /** Resolves when `id` is in a final state (COMPLETED, CANCELLED, FAILED, …) with no process left. */
  async waitForEnd(id: number, timeoutMs: number): Promise<JobInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = this.job(id);
      if (!/PENDING|RUNNING|REQUEUED|COMPLETING|CONFIGURING|SUSPENDED|RESIZING|STOPPED|SIGNALING|REQUEUE_HOLD|REQUEUE_FED|RESV_DEL_HOLD/.test(info.state)) return info;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${info.state} after ${timeoutMs / 1000} s`);
      await sleep(1000);
    }
  }

  /** Cancels every job (SIGKILL), waits for them to go, stops slurmd, slurmctld and munged through their PID files, removes the directory. */
  async stop(): Promise<void> {
    const ids = spawnSync('squeue', ['-h', '-o', '%i'], { env: this.env, encoding: 'utf8' }).stdout?.trim().split('\n').filter(Boolean) ?? [];
    if (ids.length) {
      spawnSync('scancel', ['--signal=KILL', '--full', ...ids], { env: this.env });
      spawnSync('scancel', ids, { env: this.env });
      for (let i = 0; i < 60 && spawnSync('squeue', ['-h', '-o', '%i'], { env: this.env, encoding: 'utf8' }).stdout?.trim(); i++) await sleep(1000);
    }
    for (const pidFile of ['slurmd.pid', 'slurmctld.pid', 'munge/munged.pid']) await stopDaemon(join(this.dir, pidFile));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sbin(name: string): string {
  return existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name;
}

function munged(): string {
  return sbin('munged');
}

/** SIGTERM to the PID in `pidFile`, SIGKILL if it is still there after 15 s. */
async function stopDaemon(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!(pid > 1) || !processAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 150 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
}
