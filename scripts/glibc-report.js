'use strict';
// Reports the newest GLIBC_ symbol version an ELF addon needs, i.e. the oldest glibc it loads on.
// Reads the ELF itself (.gnu.version_r, .gnu.version and .dynsym): no binutils needed.
//
//   node scripts/glibc-report.js [file.node ...]      default: every *.node in the repository root
//   node scripts/glibc-report.js --max 2.17 [files]   also exit 1 if a file needs a newer glibc
//   node scripts/glibc-report.js --max-size 4MiB      also exit 1 if a file is larger
//   node scripts/glibc-report.js --json               the report as JSON
//
// Files that are not ELF (macOS, Windows builds) are reported and skipped; an ELF file that needs
// no GLIBC_ version (a musl build) is reported as such.

const fs = require('node:fs');
const path = require('node:path');

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;

/** Compares 'GLIBC_2.17'-style (or '2.17') versions numerically. */
function compareVersions(a, b) {
  const pa = String(a).replace(/^GLIBC_/, '').split('.').map(Number);
  const pb = String(b).replace(/^GLIBC_/, '').split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d) return d;
  }
  return 0;
}

/** A reader of one ELF file's header fields, whatever its class (32/64-bit) and byte order. */
function elfReader(buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const addr = (o) => (is64 ? Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o));
  return { is64, le, u16, u32, addr };
}

function cString(buf, offset) {
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}

/**
 * The versions an ELF file needs from each shared library, and which dynamic symbols need each.
 *
 * @returns {null | {needs: Array<{file: string, version: string, symbols: string[]}>}} null if not ELF.
 */
function readVersionNeeds(buf) {
  const r = elfReader(buf);
  if (!r) return null;
  const shoff = r.addr(r.is64 ? 0x28 : 0x20);
  const shentsize = r.u16(r.is64 ? 0x3a : 0x2e);
  const shnum = r.u16(r.is64 ? 0x3c : 0x30);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push(r.is64
      ? { type: r.u32(o + 4), offset: r.addr(o + 0x18), size: r.addr(o + 0x20), link: r.u32(o + 0x28), info: r.u32(o + 0x2c), entsize: r.addr(o + 0x38) }
      : { type: r.u32(o + 4), offset: r.u32(o + 0x10), size: r.u32(o + 0x14), link: r.u32(o + 0x18), info: r.u32(o + 0x1c), entsize: r.u32(o + 0x24) });
  }

  // .gnu.version_r: Verneed entries (one per library), each with Vernaux entries (one per version).
  const needs = [];
  const byIndex = new Map();
  for (const sec of sections.filter((s) => s.type === SHT_GNU_VERNEED)) {
    const strtab = sections[sec.link].offset;
    let vn = sec.offset;
    for (let n = 0; n < sec.info; n++) {
      const cnt = r.u16(vn + 2);
      const file = cString(buf, strtab + r.u32(vn + 4));
      let aux = vn + r.u32(vn + 8);
      for (let k = 0; k < cnt; k++) {
        const other = r.u16(aux + 6);
        const need = { file, version: cString(buf, strtab + r.u32(aux + 8)), symbols: [] };
        needs.push(need);
        byIndex.set(other, need);
        const next = r.u32(aux + 12);
        if (!next) break;
        aux += next;
      }
      const next = r.u32(vn + 12);
      if (!next) break;
      vn += next;
    }
  }

  // .gnu.version runs parallel to .dynsym: entry i is the version index of symbol i.
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  if (dynsym && versym) {
    const strtab = sections[dynsym.link].offset;
    const entsize = dynsym.entsize || (r.is64 ? 24 : 16);
    const count = Math.floor(dynsym.size / entsize);
    for (let i = 0; i < count; i++) {
      const need = byIndex.get(r.u16(versym.offset + i * 2) & 0x7fff);
      if (need) need.symbols.push(cString(buf, strtab + r.u32(dynsym.offset + i * entsize)));
    }
  }
  return { needs };
}

/** The report for one file: {file, bytes, elf, newest, symbols, versions}. */
function glibcReport(file) {
  const buf = fs.readFileSync(file);
  const parsed = readVersionNeeds(buf);
  if (!parsed) return { file, bytes: buf.length, elf: false, newest: null, symbols: [], versions: [] };
  const glibc = parsed.needs.filter((n) => /^GLIBC_\d/.test(n.version));
  const versions = [...new Set(glibc.map((n) => n.version))].sort(compareVersions);
  const newest = versions.length ? versions[versions.length - 1] : null;
  const symbols = [...new Set(glibc.filter((n) => n.version === newest).flatMap((n) => n.symbols))].sort();
  return { file, bytes: buf.length, elf: true, newest, symbols, versions };
}

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib)?$/i.exec(String(text).trim());
  if (!m) throw new Error(`--max-size: cannot read ${JSON.stringify(text)} (e.g. 4MiB, 4000000)`);
  const unit = (m[2] || 'b').toLowerCase();
  const mult = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 * 1024 }[unit];
  return Math.floor(Number(m[1]) * mult);
}

function main(argv) {
  const files = [];
  let max = null;
  let maxSize = null;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--max') max = argv[++i];
    else if (a === '--max-size') maxSize = parseSize(argv[++i]);
    else if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/glibc-report.js [--max 2.17] [--max-size 4MiB] [--json] [file.node ...]');
      return 0;
    } else files.push(a);
  }
  if (max !== null && !/^(GLIBC_)?\d+(\.\d+)*$/.test(max)) throw new Error(`--max: expected a version like 2.17, got ${max}`);
  if (!files.length) {
    const root = path.resolve(__dirname, '..');
    for (const f of fs.readdirSync(root)) if (f.endsWith('.node')) files.push(path.join(root, f));
  }
  if (!files.length) {
    console.error('glibc-report: no .node file given or found in the repository root (run `npm run build`)');
    return 2;
  }

  let failed = false;
  const reports = files.map((f) => {
    const r = glibcReport(f);
    r.problems = [];
    if (max !== null && r.newest && compareVersions(r.newest, max) > 0) r.problems.push(`needs ${r.newest}, newer than the floor GLIBC_${max.replace(/^GLIBC_/, '')}`);
    if (maxSize !== null && r.bytes > maxSize) r.problems.push(`is ${r.bytes} bytes, over the limit of ${maxSize}`);
    if (r.problems.length) failed = true;
    return r;
  });

  if (json) {
    console.log(JSON.stringify(reports, null, 2));
  } else {
    for (const r of reports) {
      const name = path.relative(process.cwd(), r.file) || r.file;
      const size = `${r.bytes} bytes (${(r.bytes / 1048576).toFixed(2)} MiB)`;
      if (!r.elf) console.log(`${name}: not an ELF file, no glibc requirement; ${size}`);
      else if (!r.newest) console.log(`${name}: needs no GLIBC_ symbol version (not linked against glibc); ${size}`);
      else {
        console.log(`${name}: newest GLIBC_ symbol version needed: ${r.newest}; ${size}`);
        console.log(`  needed by: ${r.symbols.join(', ')}`);
        console.log(`  all GLIBC_ versions referenced: ${r.versions.join(' ')}`);
      }
      for (const p of r.problems) console.log(`  FAIL: ${name} ${p}`);
    }
  }
  return failed ? 1 : 0;
}

module.exports = { glibcReport, readVersionNeeds, compareVersions };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`glibc-report: ${err.message}`);
    process.exitCode = 2;
  }
}
