"""Answer extraction, normalisation and equivalence for the math tasks (``gsm8k``, ``math``).

* ``numbers`` — numeric answers: lm-eval's gsm8k reference filters and our extractor;
* ``latex`` — brace-matched ``\\boxed{}``;
* ``hendrycks`` — the MATH reference normalisation and ``is_equiv``;
* ``math_answers`` — MATH extractors (boxed, Minerva "Final Answer", ``####``) and normalisation;
* ``equivalence`` — string, shape, text, numeric, then symbolic (math-verify in worker processes,
  time-limited); definitions in docs/tasks/math.md;
* ``agreement`` — ours vs math-verify vs Hendrycks on the equivalence table (``python -m``).

Nothing here imports torch or sympy at module load: the symbolic workers import only this package.
"""
