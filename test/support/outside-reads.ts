import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Finds code that reads outside the repository: a path to the corpus that once lived beside it
 * (`../shared`, `shared/corpus`), a path built from `__dirname` that climbs above the repository's
 * root, or a relative import that does. It reads code, not prose: comments and Markdown that
 * merely mention such a folder are not findings.
 */

/** A literal path (or the literal parts of one, joined with `/`) naming the folder beside the repository. */
const BESIDE_THE_REPOSITORY = /(^|[/\\])\.\.[/\\]+shared([/\\]|$)|(^|[/\\])shared[/\\]+corpus([/\\]|$)/;

const SCRIPT = /\.(ts|tsx|js|cjs|mjs)$/;
/** Files read as lines (comments starting with `#` left out): package.json scripts, YAML, shell, HTML. */
const TEXT = /\.(json|ya?ml|sh|html)$/;

/** Build output and installed packages: the folders .gitignore lists, and .git. */
function ignoredFolders(root: string): Set<string> {
  let gitignore = '';
  try {
    gitignore = readFileSync(path.join(root, '.gitignore'), 'utf8');
  } catch {
    // No .gitignore: only the defaults below.
  }
  const folders = gitignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.endsWith('/') && !line.startsWith('#') && !/[*?[]/.test(line))
    .map((line) => line.replace(/^\/|\/$/g, ''));
  return new Set(['.git', 'node_modules', ...folders]);
}

/** Every file under `root` that holds code, as paths relative to it. */
export function codeFiles(root: string): string[] {
  const ignored = ignoredFolders(root);
  const files: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(path.join(root, folder), { withFileTypes: true })) {
      const file = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!ignored.has(file) && !ignored.has(entry.name) && entry.name !== 'node_modules') walk(file);
      } else if (entry.isFile() && (SCRIPT.test(file) || TEXT.test(file) || isShellScript(root, file))) files.push(file);
    }
  };
  walk('');
  return files.sort();
}

/** An extensionless executable script (`.ci/run`): its first line is a shebang. */
function isShellScript(root: string, file: string): boolean {
  if (path.extname(file)) return false;
  return readFileSync(path.join(root, file), 'utf8').startsWith('#!');
}

/** Where `file` (relative to `root`) reads outside the repository: one `file:line: what` each. */
export function outsideReadsIn(root: string, file: string): string[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  return SCRIPT.test(file) ? scriptFindings(root, file, source) : textFindings(file, source);
}

/** Every place under `root` that reads outside the repository. */
export function outsideReads(root: string): string[] {
  return codeFiles(root).flatMap((file) => outsideReadsIn(root, file));
}

function textFindings(file: string, source: string): string[] {
  return source.split('\n').flatMap((line, index) => {
    if (line.trim().startsWith('#')) return [];
    return BESIDE_THE_REPOSITORY.test(line) ? [`${file}:${index + 1}: names a folder beside the repository: ${line.trim()}`] : [];
  });
}

function scriptFindings(root: string, file: string, source: string): string[] {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const findings: string[] = [];
  const report = (node: ts.Node, what: string) => {
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1;
    findings.push(`${file}:${line}: ${what}: ${node.getText(sourceFile).replace(/\s+/g, ' ').slice(0, 160)}`);
  };
  const folder = path.posix.dirname(file);
  /** Whether a path of literal segments, taken from the file's own folder, lands outside `root`. */
  const climbsOut = (segments: string[]) => {
    const target = path.resolve(root, folder, ...segments);
    const relative = path.relative(root, target);
    return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  };

  const visit = (node: ts.Node) => {
    // Any literal naming the folder: '../shared/corpus/x.json', `${__dirname}/../../shared`.
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      // A module specifier is resolved from the file's own folder: `../shared/x` from functions/a/
      // is functions/shared/x, inside the repository (one that climbs out is reported below).
      const specifier = ts.isStringLiteral(node) && (ts.isImportDeclaration(node.parent) || ts.isExportDeclaration(node.parent)) && node.text.startsWith('.');
      if (BESIDE_THE_REPOSITORY.test(node.text) && !(specifier && !climbsOut(node.text.split('/')))) report(node, 'names a folder beside the repository');
    }
    // A path put together from literal parts: path.join(__dirname, '..', '..', 'shared', 'corpus'), ['..', 'shared'].
    const parts = ts.isCallExpression(node) || ts.isNewExpression(node) ? [...(node.arguments ?? [])] : ts.isArrayLiteralExpression(node) ? [...node.elements] : undefined;
    if (parts) {
      for (const run of literalRuns(parts)) {
        if (run.length > 1 && BESIDE_THE_REPOSITORY.test(run.map((part) => part.text).join('/'))) report(node, 'builds a path to a folder beside the repository');
      }
      // path.join(__dirname, '..', '..', '..'): climbs above the repository's root.
      const start = parts.findIndex((part) => ts.isIdentifier(part) && part.text === '__dirname');
      if (start >= 0) {
        const run = literalRuns(parts.slice(start + 1))[0];
        if (run && parts[start + 1] === run[0] && climbsOut(run.map((part) => part.text))) report(node, 'climbs above the repository from __dirname');
      }
    }
    // import … from '../../../x', require('../../x'), import('../x'), jest.mock('../x').
    const specifier = ts.isImportDeclaration(node) || ts.isExportDeclaration(node) ? node.moduleSpecifier : ts.isCallExpression(node) && isModuleCall(node) ? node.arguments[0] : undefined;
    if (specifier && ts.isStringLiteralLike(specifier) && specifier.text.startsWith('.') && climbsOut([specifier.text])) report(node, 'imports from outside the repository');
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return findings;
}

/** The runs of consecutive string literals among a call's arguments or an array's elements. */
function literalRuns(parts: ts.Expression[]): ts.StringLiteralLike[][] {
  const runs: ts.StringLiteralLike[][] = [];
  let current: ts.StringLiteralLike[] = [];
  for (const part of parts) {
    if (ts.isStringLiteralLike(part)) current.push(part);
    else if (current.length) {
      runs.push(current);
      current = [];
    }
  }
  if (current.length) runs.push(current);
  return runs;
}

/** require('…'), import('…'), require.resolve('…'), jest.mock('…') and its kin. */
function isModuleCall(node: ts.CallExpression): boolean {
  const callee = node.expression;
  if (callee.kind === ts.SyntaxKind.ImportKeyword) return true;
  if (ts.isIdentifier(callee)) return callee.text === 'require';
  if (ts.isPropertyAccessExpression(callee)) {
    const owner = callee.expression.getText();
    return (owner === 'require' && callee.name.text === 'resolve') || (owner === 'jest' && /^(mock|doMock|unmock|requireActual|requireMock)$/.test(callee.name.text));
  }
  return false;
}
