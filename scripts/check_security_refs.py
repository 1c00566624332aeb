#!/usr/bin/env python3
"""Checks that every `file::test` reference in SECURITY.md names a `fn test` in that file:
tests/it/<file>.rs (a module of the library's one test binary) unless the reference starts
with a path: src/x.rs::tests::name, the mock crate's mock/tests/it/x.rs::name, or the
sidecar's sidecar/src/x.rs::tests::name and sidecar/tests/it/x.rs::name."""
import re, sys, os
root = sys.argv[1] if len(sys.argv) > 1 else '.'
text = open(os.path.join(root, 'SECURITY.md')).read()
refs = re.findall(r'(?<![\w/.])((?:(?:sidecar|mock)/(?:src|tests)/[\w/]+\.rs)|(?:src/[\w/]+\.rs)|[a-z_][a-z0-9_]*)::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)', text)
bad = 0; ok = 0; seen = set()
for file, path in refs:
    if (file, path) in seen or file == "file": continue
    seen.add((file, path))
    name = path.split('::')[-1]
    f = file if file.startswith(('src/', 'sidecar/', 'mock/')) else f'tests/it/{file}.rs'
    full = os.path.join(root, f)
    if not os.path.exists(full):
        print(f'UNRESOLVED {file}::{path}: no file {f}'); bad += 1; continue
    src = open(full).read()
    mods = path.split('::')[:-1]
    if not re.search(r'\bfn ' + re.escape(name) + r'\b', src) or any(not re.search(r'\bmod ' + m + r'\b', src) for m in mods):
        print(f'UNRESOLVED {file}::{path}: no fn {name} in {f}'); bad += 1; continue
    ok += 1
print(f'{ok} references resolve, {bad} do not')
sys.exit(1 if bad else 0)
