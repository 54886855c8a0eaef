/**
 * `npm run test:mutation:lua`: mutation testing of the Lua scripts (core/redis/lua), which StrykerJS
 * cannot mutate. Each script's code (its header left alone) gets simple mutants, one at a time:
 * a comparison or equality flipped, `+`/`-` swapped, `and`/`or` swapped, an integer constant changed.
 * Each mutant is written into a scratch copy of dist/ and the scripts, and the specs that run that
 * script on a real Redis are run against it (mocha --bail): a failing run kills it. Prints a score per
 * file and every survivor. Not part of npm test (minutes per file).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
const luaDir = join(root, "core/redis/lua");

/** The specs that run each script on a real Redis, by the script's name prefix. */
function specsFor(file: string): string[] {
  const compile = "dist/test/redis-scripts.test.js";
  if (/^(publish|history)-/.test(file)) return [compile, "dist/test/redis-bus.test.js"];
  if (/^(attempt|received|queue)-/.test(file)) return [compile, "dist/test/eventhos-stores.test.js"];
  return [compile, "dist/test/redis-store.test.js"];
}

interface Mutant {
  line: number;
  from: string;
  to: string;
  source: string;
}

const swaps: Record<string, string[]> = {
  "==": ["~="],
  "~=": ["=="],
  "<=": ["<", ">"],
  ">=": [">", "<"],
  "<": ["<=", ">="],
  ">": [">=", "<="],
  "+": ["-"],
  "-": ["+"],
  and: ["or"],
  or: ["and"],
};

/** Mutants of a script's code: tokens outside comments, strings and the header block. */
export function mutants(lua: string): Mutant[] {
  const headerEnd = lua.startsWith("--[[") ? lua.indexOf("]]") + 2 : 0;
  const out: Mutant[] = [];
  const token = /--[^\n]*|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\.\.|==|~=|<=|>=|[<>+-]|\b(?:and|or)\b|\b\d+\b|\[\[|\]\]/g;
  token.lastIndex = headerEnd;
  for (let m = token.exec(lua); m; m = token.exec(lua)) {
    const text = m[0];
    const at = m.index;
    const line = lua.slice(0, at).split("\n").length;
    const replace = (to: string) => out.push({ line, from: text, to, source: lua.slice(0, at) + to + lua.slice(at + text.length) });
    if (text.startsWith("--") || text.startsWith("'") || text.startsWith('"') || text === ".." || text === "[[" || text === "]]") continue;
    // `-` right after `[` or `(` or `,` is a sign, not a subtraction; leave those.
    if (text === "-" && /[[(,=]\s*$/.test(lua.slice(0, at))) continue;
    if (/^\d+$/.test(text)) {
      // Array indexes (t[1], KEYS[2], ARGV[3]) pick an argument: changing them breaks everything at once.
      if (/\[\s*$/.test(lua.slice(0, at))) continue;
      replace(text === "0" ? "1" : "0");
      if (text !== "0") replace(String(Number(text) + 1));
      continue;
    }
    for (const to of swaps[text] ?? []) replace(to);
  }
  return out;
}

function run(): void {
  const scratch = mkdtempSync(join(tmpdir(), "herald-lua-mutants-"));
  try {
    // The whole tree but its dependencies and outputs of other runs (tests read proto/, examples/, …).
    const skip = new Set(["node_modules", ".git", ".stryker-tmp", "reports"].map((d) => join(root, d)));
    cpSync(root, scratch, { recursive: true, filter: (src) => !skip.has(src) });
    symlinkSync(join(root, "node_modules"), join(scratch, "node_modules"));
    const mocha = join(root, "node_modules/mocha/bin/mocha.js");
    const specs = (file: string) => [mocha, "--no-config", "--bail", "--timeout", "20000", ...specsFor(file)];
    // Unmutated, every spec must pass: otherwise every mutant would look killed.
    for (const file of ["publish-3.lua", "attempt-start-1.lua", "write-status.lua"]) {
      if (spawnSync(process.execPath, specs(file), { cwd: scratch, stdio: "inherit" }).status !== 0) {
        throw new Error(`the specs of ${file} fail without any mutant: fix them first`);
      }
    }
    const only = process.argv.slice(2);
    const rows: Array<{ file: string; total: number; killed: number }> = [];
    const survivors: string[] = [];
    for (const file of readdirSync(luaDir).filter((f) => f.endsWith(".lua") && (only.length === 0 || only.some((o) => f.includes(o))))) {
      const original = readFileSync(join(luaDir, file), "utf8");
      const target = join(scratch, "core/redis/lua", file);
      let killed = 0;
      const list = mutants(original);
      for (const [i, m] of list.entries()) {
        writeFileSync(target, m.source);
        const r = spawnSync(process.execPath, specs(file), {
          cwd: scratch,
          stdio: "ignore",
          timeout: 180_000,
        });
        const dead = r.status !== 0;
        if (dead) killed++;
        else survivors.push(`${file}:${m.line}: ${m.from} → ${m.to}`);
        process.stdout.write(`${file} ${i + 1}/${list.length} line ${m.line} ${m.from} → ${m.to}: ${dead ? "killed" : "SURVIVED"}\n`);
      }
      writeFileSync(target, original);
      rows.push({ file, total: list.length, killed });
    }
    const all = rows.reduce((a, r) => ({ total: a.total + r.total, killed: a.killed + r.killed }), { total: 0, killed: 0 });
    const pct = (k: number, t: number) => (t === 0 ? "n/a" : `${((100 * k) / t).toFixed(1)}%`);
    process.stdout.write("\nfile | mutants | killed | score\n--- | --- | --- | ---\n");
    for (const r of rows) process.stdout.write(`${r.file} | ${r.total} | ${r.killed} | ${pct(r.killed, r.total)}\n`);
    process.stdout.write(`all | ${all.total} | ${all.killed} | ${pct(all.killed, all.total)}\n\nsurvivors:\n${survivors.join("\n")}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) run();
