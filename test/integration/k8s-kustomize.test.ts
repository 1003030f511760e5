import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { configMapHashSuffix, K8sObject, KustomizeSubsetError, renderKustomization, strategicMerge } from '../../deploy/k8s/tools/kustomize-subset';

/*
 * The kustomize subset that renders deploy/k8s for test/integration/k8s-manifests.test.ts: what it implements behaves
 * as kustomize does, and what it does not implement is refused, not approximated.
 */

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'authpipe-kustomize-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: example/web:1.0
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
          resources:
            limits: {cpu: "1", memory: 256Mi}
          volumeMounts:
            - {name: config, mountPath: /etc/config}
      volumes:
        - name: config
          configMap:
            name: settings
`;

interface TestContainer {
  image: string;
  env: { name: string; value: string }[];
  resources: unknown;
}
interface TestDeployment extends K8sObject {
  spec: { replicas?: number; template: { spec: { containers: TestContainer[]; volumes: { configMap: { name: string } }[] } } };
}
const deploymentOf = (objects: K8sObject[]) => objects.find((o) => o.kind === 'Deployment') as TestDeployment;

describe('kustomize subset: configMapGenerator hash', () => {
  it("computes kustomize's name suffix (kustomize's own test vectors)", () => {
    // From kustomize's hash tests (ConfigMaps with an empty name): empty data, one key, three keys in any order, no data.
    expect(configMapHashSuffix('', {})).toBe('42745tchd9');
    expect(configMapHashSuffix('', { one: '' })).toBe('9g67k2htb6');
    expect(configMapHashSuffix('', { two: '2', one: '', three: '3' })).toBe('f5h7t85m9b');
    expect(configMapHashSuffix('', null)).toBe('dk855m5d49');
  });

  it('generates the ConfigMap from files and literals, suffixes its name and rewrites the references to it, also from an overlay', () => {
    const dir = tree({
      'base/kustomization.yaml': 'resources: [deployment.yaml]\nconfigMapGenerator:\n  - name: settings\n    files: [app.json, renamed.json=other.json]\n    literals: [MODE=x]\n',
      'base/deployment.yaml': DEPLOYMENT,
      'base/app.json': '{"a": "<b> & c"}\n',
      'base/other.json': '{}',
      'overlay/kustomization.yaml': 'resources: [../base, extra.yaml]\n',
      'overlay/extra.yaml': DEPLOYMENT.replace('name: web\nspec', 'name: other\nspec'),
    });
    const objects = renderKustomization(join(dir, 'overlay'));
    const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
    const data = { MODE: 'x', 'app.json': '{"a": "<b> & c"}\n', 'renamed.json': '{}' };
    expect(configMap.data).toEqual(data);
    expect(configMap.metadata.name).toBe(`settings-${configMapHashSuffix('settings', data)}`);
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      expect(deploymentOf([d]).spec.template.spec.volumes[0].configMap.name).toBe(configMap.metadata.name);
    }
  });

  it('refuses options it does not implement (behavior merge)', () => {
    const dir = tree({ 'kustomization.yaml': 'configMapGenerator:\n  - name: s\n    behavior: merge\n    literals: [A=1]\n' });
    expect(() => renderKustomization(dir)).toThrow(/behavior merge is not supported/);
  });
});

describe('kustomize subset: patches (strategic merge)', () => {
  it('merges maps, deletes on null, merges env and containers by name, appends new items', () => {
    const dir = tree({
      'kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n',
      'd.yaml': DEPLOYMENT,
      'p.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          env:
            - {name: B, value: "20"}
            - {name: C, value: "3"}
          resources:
            limits: {cpu: null, memory: 512Mi}
`,
    });
    const d = deploymentOf(renderKustomization(dir));
    expect(d.spec.replicas).toBe(3);
    const container = d.spec.template.spec.containers[0];
    expect(container.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '20' },
      { name: 'C', value: '3' },
    ]);
    expect(container.resources).toEqual({ limits: { memory: '512Mi' } });
    expect(container.image).toBe('example/web:1.0');
  });

  it('refuses lists without a known merge key, directives, other kinds, and a patch that matches nothing', () => {
    expect(() => strategicMerge({ args: ['a'] }, { args: ['b'] })).toThrow(/merge strategy this renderer does not know/);
    expect(() => strategicMerge({ env: [] }, { env: [{ name: 'A', $patch: 'delete' }] })).toThrow(/directive \$patch/);
    expect(() => strategicMerge({}, { $retainKeys: ['a'] })).toThrow(/directive/);
    const dir = tree({
      'kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n',
      'd.yaml': DEPLOYMENT,
      'p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nope\nspec:\n  replicas: 2\n',
    });
    expect(() => renderKustomization(dir)).toThrow(/matches 0 objects/);
    writeFileSync(join(dir, 'p.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec: {}\n');
    expect(() => renderKustomization(dir)).toThrow(/only Deployments are patched/);
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n    target: {kind: Deployment}\n');
    expect(() => renderKustomization(dir)).toThrow(/not supported by this renderer: target/);
  });
});

describe('kustomize subset: namespace, images, fields, YAML', () => {
  it('sets the namespace and replaces images by name (tag, name, digest)', () => {
    const dir = tree({
      'kustomization.yaml': 'namespace: team\nresources: [d.yaml]\nimages:\n  - name: example/web\n    newName: registry.local/web\n    newTag: "2.0"\n',
      'd.yaml': DEPLOYMENT,
    });
    const [d] = renderKustomization(dir);
    expect(d.metadata.namespace).toBe('team');
    expect(deploymentOf([d]).spec.template.spec.containers[0].image).toBe('registry.local/web:2.0');
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [d.yaml]\nimages:\n  - name: example/web\n    digest: sha256:abc\n');
    expect(deploymentOf(renderKustomization(dir)).spec.template.spec.containers[0].image).toBe('example/web@sha256:abc');
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [d.yaml]\nimages:\n  - name: example/other\n    newTag: "9"\n');
    expect(deploymentOf(renderKustomization(dir)).spec.template.spec.containers[0].image).toBe('example/web:1.0');
  });

  it('refuses unknown kustomization fields, remote resources, unknown kinds, duplicates and cycles', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'kustomization.yaml': 'resources: []\ncommonLabels: {a: b}\n' }, /fields not supported by this renderer: commonLabels/],
      [{ 'kustomization.yaml': 'resources: [https://github.com/x/y]\n' }, /remote resource/],
      [{ 'kustomization.yaml': 'resources: [r.yaml]\n', 'r.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n' }, /kind Namespace is not known/],
      [{ 'kustomization.yaml': 'resources: [d.yaml, d.yaml]\n', 'd.yaml': DEPLOYMENT }, /already defined/],
      [{ 'kustomization.yaml': 'resources: [a]\n', 'a/kustomization.yaml': 'resources: [..]\n' }, /kustomization cycle/],
    ];
    for (const [files, error] of cases) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      expect(() => renderKustomization(tree(files))).toThrow(KustomizeSubsetError);
      expect(() => renderKustomization(root)).toThrow(error);
    }
  });

  it('reads YAML 1.1 as kubectl apply -f does (stricter than kustomize): unquoted off is a boolean, 0440 is octal', () => {
    const dir = tree({
      'kustomization.yaml': 'resources: [d.yaml]\n',
      'd.yaml': DEPLOYMENT.replace('value: "2"', 'value: off').replace('name: settings', 'name: settings\n            defaultMode: 0440'),
    });
    const d = deploymentOf(renderKustomization(dir));
    expect(d.spec.template.spec.containers[0].env[1].value).toBe(false);
    expect((d.spec.template.spec.volumes[0].configMap as { defaultMode?: number }).defaultMode).toBe(0o440);
  });
});
