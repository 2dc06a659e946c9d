#!/usr/bin/env python3
"""The library's public API as sorted text lines, from rustdoc's JSON output.

Usage: public_api.py target/doc/cert_download.json > public-api.txt

One line per public item (modules, re-exports, types and their public fields and variants,
inherent methods and constants, trait impls including the auto traits, traits and their
items, functions, constants), with signatures written out, so that a diff of two snapshots
shows what changed in the API. Blanket impls (`impl<T> From<T> for T` and the like) are
left out: they follow from the rest. Called by scripts/public-api.
"""

import json
import sys


# The auto traits a user relies on; the others rustdoc lists (`Freeze`, `UnsafeUnpin`) are
# the compiler's own and change with the toolchain.
AUTO_TRAITS = {
    "core::marker::Send",
    "core::marker::Sync",
    "core::marker::Unpin",
    "core::panic::unwind_safe::UnwindSafe",
    "core::panic::unwind_safe::RefUnwindSafe",
}

# Implemented by derives for the compiler's use, not API.
INTERNAL_TRAITS = {"core::marker::StructuralPartialEq"}


class Api:
    def __init__(self, doc):
        self.doc = doc
        self.index = doc["index"]
        self.paths = doc["paths"]
        self.lines = set()
        self.public = {}  # the crate's item id -> every public path it is reachable at
        root = self.index[str(doc["root"])]
        self.collect(root["name"], doc["root"], set())
        self.canonical = {i: self.choose(i, ps) for i, ps in self.public.items()}

    def collect(self, prefix, module_id, seen):
        """Every public path of every item of the crate, through public modules and
        re-exports."""
        if module_id in seen:
            return
        seen.add(module_id)
        for child_id in self.index[str(module_id)]["inner"]["module"]["items"]:
            child = self.index.get(str(child_id))
            if child is None or child.get("visibility") != "public":
                continue
            (kind, inner), = child["inner"].items()
            if kind == "use":
                target = inner.get("id")
                if target is None or inner.get("is_glob"):
                    continue
                target_item = self.index.get(str(target))
                if target_item is None or target_item["crate_id"] != 0:
                    continue
                path = f"{prefix}::{inner['name']}"
                self.public.setdefault(target, []).append(path)
                if "module" in target_item["inner"]:
                    self.collect(path, target, seen)
            else:
                path = f"{prefix}::{child['name']}"
                self.public.setdefault(child_id, []).append(path)
                if kind == "module":
                    self.collect(path, child_id, seen)

    def choose(self, item_id, paths):
        """Where an item is shown: where it is defined if that is public, else its
        longest public path (a module's, not the crate root's re-export)."""
        entry = self.paths.get(str(item_id))
        if entry is not None and "::".join(entry["path"]) in paths:
            return "::".join(entry["path"])
        return max(paths, key=lambda p: (p.count("::"), p))

    # --- names and types -------------------------------------------------------------

    def path_of(self, node):
        """A resolved path's name: the crate's own items by their full path."""
        entry = self.paths.get(str(node.get("id")))
        if node.get("id") in self.canonical:
            name = self.canonical[node["id"]]
        elif entry is not None:
            name = "::".join(entry["path"])
        else:
            name = node["path"]
        return name + self.args(node.get("args"))

    def args(self, args):
        if not args:
            return ""
        if "angle_bracketed" in args:
            a = args["angle_bracketed"]
            parts = [self.arg(x) for x in a["args"]]
            for c in a.get("constraints", []):
                parts.append(self.constraint(c))
            return "<" + ", ".join(parts) + ">" if parts else ""
        if "parenthesized" in args:
            p = args["parenthesized"]
            out = "(" + ", ".join(self.ty(t) for t in p["inputs"]) + ")"
            if p.get("output") is not None:
                out += " -> " + self.ty(p["output"])
            return out
        return "(..)"

    def arg(self, a):
        if a == "infer":
            return "_"
        if "lifetime" in a:
            return a["lifetime"]
        if "type" in a:
            return self.ty(a["type"])
        if "const" in a:
            return a["const"].get("expr", "?")
        return json.dumps(a, sort_keys=True)

    def constraint(self, c):
        name = c["name"] + self.args(c.get("args"))
        binding = c["binding"]
        if "equality" in binding:
            term = binding["equality"]
            value = self.ty(term["type"]) if "type" in term else term.get("constant", {}).get("expr", "?")
            return f"{name} = {value}"
        return f"{name}: " + self.bounds(binding["constraint"])

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            return t
        (kind, v), = t.items()
        if kind == "resolved_path":
            return self.path_of(v)
        if kind == "generic" or kind == "primitive":
            return v
        if kind == "borrowed_ref":
            lt = v["lifetime"] + " " if v.get("lifetime") else ""
            mut = "mut " if v["is_mutable"] else ""
            return f"&{lt}{mut}{self.ty(v['type'])}"
        if kind == "raw_pointer":
            return ("*mut " if v["is_mutable"] else "*const ") + self.ty(v["type"])
        if kind == "slice":
            return f"[{self.ty(v)}]"
        if kind == "array":
            return f"[{self.ty(v['type'])}; {v['len']}]"
        if kind == "tuple":
            return "(" + ", ".join(self.ty(x) for x in v) + ")"
        if kind == "impl_trait":
            return "impl " + self.bounds(v)
        if kind == "dyn_trait":
            parts = [self.poly_trait(x) for x in v["traits"]]
            if v.get("lifetime"):
                parts.append(v["lifetime"])
            return "dyn " + " + ".join(parts)
        if kind == "qualified_path":
            trait = self.path_of(v["trait"]) if v.get("trait") else "?"
            return f"<{self.ty(v['self_type'])} as {trait}>::{v['name']}{self.args(v.get('args'))}"
        if kind == "function_pointer":
            sig = v["sig"]
            ins = ", ".join(self.ty(x[1]) for x in sig["inputs"])
            out = "" if sig["output"] is None else " -> " + self.ty(sig["output"])
            return f"fn({ins}){out}"
        if kind == "infer":
            return "_"
        return json.dumps(t, sort_keys=True)

    def poly_trait(self, p):
        hr = self.hrtb(p.get("generic_params", []))
        return hr + self.path_of(p["trait"])

    def hrtb(self, params):
        if not params:
            return ""
        return "for<" + ", ".join(p["name"] for p in params) + "> "

    def bounds(self, bounds):
        out = []
        for b in bounds:
            if "trait_bound" in b:
                tb = b["trait_bound"]
                modifier = {"none": "", "maybe": "?", "maybe_const": "~const "}.get(tb["modifier"], "")
                out.append(modifier + self.hrtb(tb.get("generic_params", [])) + self.path_of(tb["trait"]))
            elif "outlives" in b:
                out.append(b["outlives"])
            else:
                out.append(json.dumps(b, sort_keys=True))
        return " + ".join(out)

    def generics(self, g):
        params = []
        for p in g["params"]:
            kind = p["kind"]
            if "lifetime" in kind:
                outlives = kind["lifetime"]["outlives"]
                params.append(p["name"] + (": " + " + ".join(outlives) if outlives else ""))
            elif "type" in kind:
                if kind["type"].get("is_synthetic"):
                    continue
                b = self.bounds(kind["type"]["bounds"])
                default = kind["type"].get("default")
                text = p["name"] + (": " + b if b else "")
                if default is not None:
                    text += " = " + self.ty(default)
                params.append(text)
            elif "const" in kind:
                params.append(f"const {p['name']}: {self.ty(kind['const']['type'])}")
        return "<" + ", ".join(params) + ">" if params else ""

    def where(self, g):
        preds = []
        for w in g["where_predicates"]:
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                preds.append(self.hrtb(bp.get("generic_params", [])) + self.ty(bp["type"]) + ": " + self.bounds(bp["bounds"]))
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(lp["lifetime"] + ": " + " + ".join(lp["outlives"]))
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                preds.append(self.ty(ep["lhs"]) + " == " + self.ty(ep["rhs"].get("type")))
        return " where " + ", ".join(preds) if preds else ""

    def fn_sig(self, name, f):
        h = f["header"]
        prefix = ("const " if h["is_const"] else "") + ("async " if h["is_async"] else "") + ("unsafe " if h["is_unsafe"] else "")
        ins = []
        for arg_name, t in f["sig"]["inputs"]:
            if arg_name == "self":
                ins.append(self.self_arg(t))
            else:
                ins.append(f"{arg_name}: {self.ty(t)}")
        out = "" if f["sig"]["output"] is None else " -> " + self.ty(f["sig"]["output"])
        return f"{prefix}fn {name}{self.generics(f['generics'])}({', '.join(ins)}){out}{self.where(f['generics'])}"

    def self_arg(self, t):
        if t == {"generic": "Self"}:
            return "self"
        if "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
            r = t["borrowed_ref"]
            lt = r["lifetime"] + " " if r.get("lifetime") else ""
            return "&" + lt + ("mut self" if r["is_mutable"] else "self")
        return "self: " + self.ty(t)

    # --- items -------------------------------------------------------------------------

    def add(self, line):
        self.lines.add(line)

    def attrs(self, item):
        marks = []
        for a in item.get("attrs", []):
            if a == "non_exhaustive" or (isinstance(a, str) and "non_exhaustive" in a):
                marks.append("#[non_exhaustive] ")
        return "".join(marks)

    def walk_module(self, prefix, module_id):
        item = self.index[str(module_id)]
        for child_id in item["inner"]["module"]["items"]:
            child = self.index.get(str(child_id))
            if child is None or child.get("visibility") != "public":
                continue
            self.item(prefix, child)

    def item(self, prefix, item):
        (kind, inner), = item["inner"].items()
        name = item.get("name")
        path = f"{prefix}::{name}" if name else prefix
        if item["crate_id"] == 0 and item["id"] in self.canonical and self.canonical[item["id"]] != path:
            self.add(f"pub use {path} = {self.canonical[item['id']]}")
            return
        if kind == "module":
            self.add(f"pub mod {path}")
            self.walk_module(path, item["id"])
        elif kind == "use":
            target = inner.get("id")
            use_path = f"{prefix}::{inner['name']}"
            if self.canonical.get(target) == use_path:
                # The item's own place in the API: shown here in full.
                self.item(prefix, dict(self.index[str(target)], name=inner["name"]))
                return
            if target in self.canonical:
                source = self.canonical[target]
            else:
                entry = self.paths.get(str(target)) if target is not None else None
                source = "::".join(entry["path"]) if entry else inner["source"]
            glob = "::*" if inner.get("is_glob") else ""
            self.add(f"pub use {use_path}{glob} = {source}{glob}")
        elif kind == "struct":
            self.struct(path, item, inner)
        elif kind == "enum":
            self.enum(path, item, inner)
        elif kind == "trait":
            self.trait(path, item, inner)
        elif kind == "function":
            self.add(f"pub {self.fn_sig(path, inner)}")
        elif kind == "constant":
            self.add(f"pub const {path}: {self.ty(inner['type'])}")
        elif kind == "static":
            self.add(f"pub static {path}: {self.ty(inner['type'])}")
        elif kind == "type_alias":
            self.add(f"pub type {path}{self.generics(inner['generics'])} = {self.ty(inner['type'])}")
        elif kind == "macro":
            self.add(f"pub macro {path}!")
        else:
            self.add(f"pub {kind} {path}")

    def struct(self, path, item, inner):
        g = inner["generics"]
        head = f"{self.attrs(item)}pub struct {path}{self.generics(g)}{self.where(g)}"
        k = inner["kind"]
        if "plain" in k:
            stripped = " (private fields)" if k["plain"]["has_stripped_fields"] else ""
            self.add(head + stripped)
            for field_id in k["plain"]["fields"]:
                field = self.index[str(field_id)]
                self.add(f"pub {path}::{field['name']}: {self.ty(field['inner']['struct_field'])}")
        elif "tuple" in k:
            fields = []
            for field_id in k["tuple"]:
                field = self.index.get(str(field_id)) if field_id is not None else None
                fields.append(self.ty(field["inner"]["struct_field"]) if field else "_")
            self.add(f"{head}({', '.join(fields)})")
        else:
            self.add(head + ";")
        self.impls(path, inner["impls"])

    def enum(self, path, item, inner):
        g = inner["generics"]
        self.add(f"{self.attrs(item)}pub enum {path}{self.generics(g)}{self.where(g)}")
        for variant_id in inner["variants"]:
            variant = self.index[str(variant_id)]
            v = variant["inner"]["variant"]["kind"]
            if v == "plain":
                shape = ""
            elif "tuple" in v:
                shape = "(" + ", ".join(
                    self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_"
                    for f in v["tuple"]) + ")"
            else:
                shape = " { " + ", ".join(
                    f"{self.index[str(f)]['name']}: {self.ty(self.index[str(f)]['inner']['struct_field'])}"
                    for f in v["struct"]["fields"]) + " }"
            self.add(f"pub {path}::{variant['name']}{shape}")
        self.impls(path, inner["impls"])

    def impls(self, path, impl_ids):
        for impl_id in impl_ids:
            imp = self.index[str(impl_id)]["inner"]["impl"]
            if imp.get("blanket_impl") is not None:
                continue
            g = imp["generics"]
            if imp["trait"] is None:
                for item_id in imp["items"]:
                    member = self.index[str(item_id)]
                    if member.get("visibility") != "public":
                        continue
                    self.member(path, member)
                continue
            if imp["is_synthetic"] and self.path_of(imp["trait"]) not in AUTO_TRAITS:
                continue
            if self.path_of(imp["trait"]) in INTERNAL_TRAITS:
                continue
            neg = "!" if imp["is_negative"] else ""
            unsafe = "unsafe " if imp["is_unsafe"] else ""
            self.add(f"{unsafe}impl{self.generics(g)} {neg}{self.path_of(imp['trait'])} for {self.ty(imp['for'])}{self.where(g)}")

    def member(self, path, member):
        (kind, inner), = member["inner"].items()
        name = f"{path}::{member['name']}"
        if kind == "function":
            self.add(f"pub {self.fn_sig(name, inner)}")
        elif kind == "assoc_const":
            self.add(f"pub const {name}: {self.ty(inner['type'])}")
        elif kind == "assoc_type":
            self.add(f"pub type {name}")
        else:
            self.add(f"pub {kind} {name}")

    def trait(self, path, item, inner):
        g = inner["generics"]
        bounds = self.bounds(inner["bounds"])
        flags = ("unsafe " if inner["is_unsafe"] else "") + ("auto " if inner["is_auto"] else "")
        dyn = "" if inner["is_dyn_compatible"] else " (not dyn-compatible)"
        self.add(f"pub {flags}trait {path}{self.generics(g)}{': ' + bounds if bounds else ''}{self.where(g)}{dyn}")
        for item_id in inner["items"]:
            member = self.index[str(item_id)]
            (kind, m), = member["inner"].items()
            name = f"{path}::{member['name']}"
            if kind == "function":
                provided = " (provided)" if m["has_body"] else ""
                self.add(f"{self.fn_sig(name, m)}{provided}")
            elif kind == "assoc_type":
                b = self.bounds(m["bounds"])
                self.add(f"type {name}{': ' + b if b else ''}")
            elif kind == "assoc_const":
                self.add(f"const {name}: {self.ty(m['type'])}")
        for impl_id in inner["implementations"]:
            imp = self.index[str(impl_id)]["inner"]["impl"]
            g = imp["generics"]
            self.add(f"impl{self.generics(g)} {self.path_of(imp['trait'])} for {self.ty(imp['for'])}{self.where(g)}")


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    api = Api(doc)
    root = doc["index"][str(doc["root"])]
    api.walk_module(root["name"], doc["root"])
    for line in sorted(api.lines):
        print(line)


if __name__ == "__main__":
    main()
