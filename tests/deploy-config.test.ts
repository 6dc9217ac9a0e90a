/**
 * The deploy/ files. The monitoring stack (Prometheus + Grafana under docker compose). No Docker engine is
 * needed: the Prometheus config goes through the real promtool, the compose and provisioning
 * files are parsed and cross-checked (mounts exist, images pinned, the dashboards provider reads
 * the folder compose mounts, the datasource uid is the one the dashboard uses).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEPLOY = join(ROOT, 'deploy');

function yamlFile<T>(rel: string): T {
  return parse(readFileSync(join(ROOT, rel), 'utf8')) as T;
}

interface Service {
  image?: string;
  ports?: (string | { target: number; published?: string | number })[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, unknown>;
  extra_hosts?: string[] | Record<string, string>;
  command?: string[] | string;
  environment?: Record<string, string> | string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}
interface Mount {
  source: string;
  target: string;
  bind: boolean;
}

const compose = (): Compose => yamlFile<Compose>('deploy/docker-compose.yml');

/** Short (`src:dst[:mode]`) and long volume syntax; a source starting with . or / is a bind mount. */
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, bind: v.type === 'bind' };
    const [source, target] = v.split(':') as [string, string];
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });
}

function environment(s: Service): Record<string, string> {
  if (!Array.isArray(s.environment)) return s.environment ?? {};
  return Object.fromEntries(s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

interface DatasourceProvisioning {
  apiVersion: number;
  datasources: { name: string; type: string; uid: string; url: string; access?: string; isDefault?: boolean }[];
}
interface DashboardProvisioning {
  apiVersion: number;
  providers: { name: string; type: string; orgId?: number; options: { path: string } }[];
}

test('promtool check config accepts deploy/prometheus/prometheus.yml', (t) => {
  const r = spawnSync('promtool', ['check', 'config', join(DEPLOY, 'prometheus/prometheus.yml')], { encoding: 'utf8' });
  if (r.error) {
    t.fail(`promtool could not be run (${r.error.message}). This test needs the real Prometheus config checker: install it (Debian: apt-get install prometheus) and put promtool on PATH.`);
    return;
  }
  t.is(r.status, 0, `${r.stdout}${r.stderr}`);
  t.regex(r.stdout, /SUCCESS/);
});

test('prometheus.yml scrapes the coordinator every 5 s as job gan on host.docker.internal:9464', (t) => {
  const cfg = yamlFile<{ global: { scrape_interval: string }; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>(
    'deploy/prometheus/prometheus.yml',
  );
  t.is(cfg.global.scrape_interval, '5s');
  const gan = cfg.scrape_configs.find((j) => j.job_name === 'gan');
  t.truthy(gan, 'no scrape job named gan');
  t.deepEqual(gan!.static_configs.flatMap((s) => s.targets), ['host.docker.internal:9464']);
  // The comment tells how to scrape a run elsewhere; keep it next to the target.
  t.regex(readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8'), /--metrics-bind 0\.0\.0\.0/);
});

test('the compose file parses and has the prometheus and grafana services', (t) => {
  const c = compose();
  t.truthy(c.services.prometheus, 'no prometheus service');
  t.truthy(c.services.grafana, 'no grafana service');
});

test('images are pinned to an explicit version tag', (t) => {
  const c = compose();
  t.regex(c.services.prometheus!.image ?? '', /^prom\/prometheus:v\d+\.\d+\.\d+$/);
  t.regex(c.services.grafana!.image ?? '', /^grafana\/grafana(-oss)?:\d+\.\d+\.\d+$/);
  for (const [name, s] of Object.entries(c.services)) t.false(/:latest$|^[^:]+$/.test(s.image ?? ''), `${name} image ${s.image} is not pinned`);
});

test('ports 9090 and 3000 are published', (t) => {
  const c = compose();
  const published = (s: Service) => (s.ports ?? []).map((p) => (typeof p === 'string' ? p : `${p.published}:${p.target}`));
  t.true(published(c.services.prometheus!).includes('9090:9090'));
  t.true(published(c.services.grafana!).includes('3000:3000'));
});

test('every bind mount points at a file or folder in the repository, of the right kind', (t) => {
  const c = compose();
  let binds = 0;
  for (const [name, s] of Object.entries(c.services)) {
    for (const m of mounts(s)) {
      if (!m.bind) {
        t.truthy(c.volumes && m.source in c.volumes, `${name}: named volume ${m.source} is not declared`);
        continue;
      }
      binds++;
      t.false(isAbsolute(m.source), `${name}: ${m.source} is an absolute host path`);
      const host = resolve(DEPLOY, m.source);
      t.true(host.startsWith(ROOT + '/'), `${name}: ${m.source} leaves the repository`);
      t.true(existsSync(host), `${name}: ${m.source} (${host}) does not exist`);
      // A container path with a file extension is a file; Docker would create a folder for a missing one.
      if (/\.\w+$/.test(m.target)) t.true(statSync(host).isFile(), `${name}: ${m.source} should be a file`);
    }
  }
  t.true(binds >= 3, `only ${binds} bind mounts`);
});

test('prometheus mounts its config where --config.file reads it and can reach the host', (t) => {
  const p = compose().services.prometheus!;
  const config = mounts(p).find((m) => m.source === './prometheus/prometheus.yml');
  t.truthy(config, 'prometheus.yml not mounted');
  const command = Array.isArray(p.command) ? p.command : (p.command ?? '').split(/\s+/);
  const flag = command.find((a) => a.startsWith('--config.file='));
  t.is(flag?.slice('--config.file='.length) ?? '/etc/prometheus/prometheus.yml', config!.target);
  const hosts = Array.isArray(p.extra_hosts) ? p.extra_hosts : Object.entries(p.extra_hosts ?? {}).map(([k, v]) => `${k}:${v}`);
  t.true(hosts.includes('host.docker.internal:host-gateway'));
});

test('grafana mounts the provisioning folder and the dashboards, and starts after prometheus', (t) => {
  const g = compose().services.grafana!;
  const m = mounts(g);
  t.true(m.some((x) => x.source === './grafana/provisioning' && x.target === '/etc/grafana/provisioning'));
  t.true(m.some((x) => x.source === '../dashboards'), 'dashboards not mounted');
  const deps = Array.isArray(g.depends_on) ? g.depends_on : Object.keys(g.depends_on ?? {});
  t.true(deps.includes('prometheus'));
});

test('grafana lets anonymous users view, or documents admin/admin', (t) => {
  const env = environment(compose().services.grafana!);
  const anonymousViewer = env.GF_AUTH_ANONYMOUS_ENABLED === 'true' && (env.GF_AUTH_ANONYMOUS_ORG_ROLE ?? 'Viewer') === 'Viewer';
  const adminAdmin = (env.GF_SECURITY_ADMIN_USER ?? 'admin') === 'admin' && (env.GF_SECURITY_ADMIN_PASSWORD ?? 'admin') === 'admin';
  t.true(anonymousViewer || adminAdmin);
  // A home dashboard path, when set, must be the dashboard file as mounted.
  const home = env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home) {
    const dash = mounts(compose().services.grafana!).find((x) => x.source === '../dashboards')!;
    t.true(home.startsWith(dash.target + '/'), home);
    t.true(existsSync(join(ROOT, 'dashboards', posix.relative(dash.target, home))), home);
  }
});

test('the datasource provisioning defines the default Prometheus with uid prometheus', (t) => {
  const d = yamlFile<DatasourceProvisioning>('deploy/grafana/provisioning/datasources/prometheus.yml');
  t.is(d.apiVersion, 1);
  t.is(d.datasources.length, 1);
  t.like(d.datasources[0], { type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
  t.truthy(d.datasources[0]!.name);
});

test('the dashboards provider is a file provider reading the folder compose mounts ../dashboards on', (t) => {
  const p = yamlFile<DashboardProvisioning>('deploy/grafana/provisioning/dashboards/gan.yml');
  t.is(p.apiVersion, 1);
  t.is(p.providers.length, 1);
  const provider = p.providers[0]!;
  t.truthy(provider.name);
  t.is(provider.type, 'file');
  const dash = mounts(compose().services.grafana!).find((x) => x.source === '../dashboards');
  t.truthy(dash, 'dashboards not mounted');
  t.is(provider.options.path, dash!.target);
});

test('the dashboard uses the provisioned datasource uid on every panel and target', (t) => {
  const uid = yamlFile<DatasourceProvisioning>('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0]!.uid;
  type Ref = { type?: string; uid?: string } | undefined;
  type P = { type?: string; title?: string; datasource?: Ref; targets?: { refId?: string; datasource?: Ref }[]; panels?: P[] };
  const dash = JSON.parse(readFileSync(join(ROOT, 'dashboards/gan-training.json'), 'utf8')) as { panels: P[]; templating: { list: { name: string; datasource?: Ref }[] } };
  // Rows group panels and text panels query nothing: neither has a datasource.
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row' && p.type !== 'text');
  t.true(panels.length > 0);
  for (const p of panels) {
    t.is(p.datasource?.uid, uid, `panel "${p.title}"`);
    for (const target of p.targets ?? []) t.is(target.datasource?.uid, uid, `panel "${p.title}" target ${target.refId}`);
  }
  for (const v of dash.templating.list) if (v.datasource) t.is(v.datasource.uid, uid, `variable ${v.name}`);
});

// deploy/k8s/train.yaml has never run (no API server here): its structure is what can be checked.
interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}
interface PodSpec {
  subdomain: string;
  restartPolicy: string;
  containers: { command: string[]; args: string[]; env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[]; resources: { limits: Record<string, number | string> } }[];
}

test('deploy/k8s/train.yaml: an Indexed Job with one GPU per pod, rank from the completion index, the coordinator at pod 0 of a headless Service', (t) => {
  const docs = parseAllDocuments(readFileSync(join(DEPLOY, 'k8s/train.yaml'), 'utf8'));
  t.deepEqual(docs.map((d) => d.errors.length), [0, 0]);
  const [service, job] = docs.map((d) => d.toJS() as K8sDoc);
  t.like(service, { apiVersion: 'v1', kind: 'Service' });
  t.is(service!.spec.clusterIP, 'None');
  t.like(job, { apiVersion: 'batch/v1', kind: 'Job' });
  const spec = job!.spec as { completionMode: string; completions: number; parallelism: number; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  t.is(spec.completionMode, 'Indexed');
  t.is(spec.parallelism, spec.completions);
  // The Service selects the Job's pods, and the pods take the Service's name as their subdomain.
  for (const [k, v] of Object.entries(service!.spec.selector as Record<string, string>)) t.is(spec.template.metadata.labels[k], v);
  const pod = spec.template.spec;
  t.is(pod.subdomain, service!.metadata.name);
  t.is(pod.restartPolicy, 'Never');
  t.is(pod.containers.length, 1);
  const c = pod.containers[0]!;
  t.is(Number(c.resources.limits['nvidia.com/gpu']), 1);
  const env = new Map(c.env.map((e) => [e.name, e]));
  t.is(Number(env.get('WORLD')?.value), spec.completions);
  t.truthy(env.get('GAN_CLUSTER_TOKEN')?.valueFrom?.secretKeyRef, 'the token must come from a Secret');
  t.is(env.get('POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
  const script = c.args.join('\n');
  t.deepEqual(c.command, ['/bin/bash', '-c']);
  const syntax = spawnSync('bash', ['-n', '-c', script], { encoding: 'utf8' });
  t.is(syntax.status, 0, syntax.stderr);
  t.regex(script, /rank=\$JOB_COMPLETION_INDEX/);
  const port = (service!.spec.ports as { port: number }[])[0]!.port;
  t.true(script.includes(`tcp://${job!.metadata.name}-0.${service!.metadata.name}:${port}`), 'workers must reach pod 0 through the Service');
  t.true(script.includes(`--port ${port}`));
  for (const entry of ['src/worker/main.ts', 'src/coordinator/main.ts']) {
    t.true(script.includes(entry));
    t.true(existsSync(join(ROOT, entry)), entry);
  }
});

/** `#SBATCH` directives of a script, as option → value ('' for a flag). */
function sbatchDirectives(rel: string): Map<string, string> {
  const lines = readFileSync(join(ROOT, rel), 'utf8').split('\n');
  return new Map(lines.filter((l) => l.startsWith('#SBATCH ')).map((l) => {
    const [opt, value = ''] = l.slice('#SBATCH '.length).trim().split('=');
    return [opt!, value];
  }));
}

test('deploy/slurm: the scripts parse; one task per GPU on the GPU variant, none asked for on the CPU one; USR1 warning, requeue, appended logs on both', (t) => {
  for (const f of ['train.sbatch', 'train-cpu.sbatch', 'worker.sh']) {
    const r = spawnSync('bash', ['-n', join(DEPLOY, 'slurm', f)], { encoding: 'utf8' });
    t.is(r.status, 0, `${f}: ${r.stderr}`);
  }
  const gpu = sbatchDirectives('deploy/slurm/train.sbatch');
  const cpu = sbatchDirectives('deploy/slurm/train-cpu.sbatch');
  t.is(gpu.get('--gpus-per-task'), '1');
  t.true(gpu.has('--ntasks-per-node'));
  t.false([...cpu.keys()].some((k) => k.startsWith('--gpu') || k === '--gres'));
  for (const d of [gpu, cpu]) {
    t.regex(d.get('--signal') ?? '', /^B:USR1@\d+$/);
    t.true(d.has('--requeue'));
    t.is(d.get('--open-mode'), 'append');
  }
  // The test on a real Slurm (tests/slurm.test.ts) runs both; this only guards their headers.
});
