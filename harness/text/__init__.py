"""Text pieces that tasks and trainers share, defined once below both (neither imports the other):

* ``prompts`` — held-out prefix / true-continuation pairs (the continuation tasks, the trainers'
  continuation targets);
* ``math_prompts`` — the math problem prompt and completion format (math tasks, plan-tuning);
* ``summarization`` — the summarisation prompt (the task, the reward-weighted trainer);
* ``answers`` — answer extraction, normalisation and equivalence (math tasks, plan-tuning rewards);
* ``rouge`` (+ ``rouge_pltrdy``) — ROUGE scoring (the ROUGE tasks, ROUGE rewards).
"""
