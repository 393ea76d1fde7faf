"""What makes decisions fast, each exact: wrappers `program.Program` installs on compiled
rules and bodies once they are linked and guarded.

- `memo`: a rule's value remembered across evaluations, keyed by what it reads of the
  input (`CompiledRule.install_memo`); a function's values by their arguments;
- `prefixes`: a body's opening literals solved once per value of the input paths they
  read (a `Definition`'s run replaced by one that looks them up);
- `dispatch`: the bodies of a many-bodied constant rule worth trying for a request,
  looked up by their opening tests (`CompiledRule.select`);
- `inline`: rules of only input comparisons tested in place of the literal naming them
  (asked by `closures.Compiler` while compiling, through `closures.Linker.inlinable`).

They read the compiled bodies (`closures.Pieces`) and values, never the linker: the
program decides where each applies, in an order written in `Program._install`.
"""
