"""The reward-weighted family (Yang et al. 2023, "Preference-grounded token-level guidance";
docs/families/reward_weighted.md).

Sequence-level preferences (K sampled continuations ranked by a sequence metric against the reference)
are grounded into a token-level reward r(s_t, a_t) in (0, 1] with the Plackett–Luce (ListMLE) loss over
aggregated sequence evaluations; the policy then learns from that guidance by reward-weighted MLE
(supervised data) or REINFORCE with an entropy bonus (no supervised data), alternating with re-training
the reward model during the first half of policy training (the paper's Algorithm 2).

One module per job: ``losses`` (the maths), ``reward_model`` (LM body + bounded MLP head), ``metrics``
(sequence metrics that define the preferences), ``preferences`` (sampling and ranking candidates),
``data`` (training pairs for the continuation and summarisation settings), ``config`` (the
hyperparameters), ``schedule`` (when the reward model is re-trained), ``policy`` (the policy objectives)
and ``trainer`` (the registered trainer).

Decoder-only policies only: the seq2seq (T5) path of the paper is not implemented, because the model API
(``HFCausalLM``) evaluates causal LMs; summarisation is done by a causal LM continuing an article prompt.
"""
