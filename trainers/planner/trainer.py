"""The planner family's trainer (docs/families/planner.md): one config space, every Table 1 row is a point
in it.

The base LM is ``weights:``: a required stage (``variant:tiny-lm``), or pretrained ``hf:<name or path>``
weights (digested when local, so the model key follows them); the NAP-pretrained planner is another
required stage (``nap``), so every variant that needs the same base or the same planner shares one
artifact. Fine-tuning trains the projections and per-layer codebooks (and the
LM when ``freeze_lm`` is false, and the planner from its unfreeze step on):

* ``train_actions``: ``oracle`` (k-means ids of the true sentences), ``predicted`` (the planner's
  prediction from the preceding sentences), ``mix`` (per sentence, predicted with probability
  ``predicted_fraction``) or ``scheduled`` (that probability rises linearly 0 → 1 over training);
* ``selection``: how predicted logits become codebook weights — hard, soft, st, uniform;
* ``unfreeze``: when the planner starts receiving gradients — never, immediate, halfway or a step;
* ``nap_weight`` λ adds ``λ · L_NAP`` to the LM loss; ``nap_pretrain: false`` starts the planner from
  scratch (the no-NAP rows);
* ``conditioning: none`` is the LM-only row: the base LM trained on for the same steps, no planner.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from accelerate.utils import set_seed
from pydantic import Field, model_validator
from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler

from harness.errors import PlanevalError
from harness.hf_adapter import HFCausalLM
from trainers.base import TRAINERS, Requirement, TrainContext, Trainer, TrainerConfig
from trainers.lm import make_accelerator, prefix_id
from trainers.loop import TrainingLoop
from trainers.planner.data import Batch, examples, sample_batch, token_weights
from trainers.planner.diagnostics import COLLAPSE_ENTROPY, plan_usage
from trainers.planner.model import PlannedLM
from trainers.planner.modules import Planner
from trainers.planner.nap import NAPConfig, PlannerArch, load_planner
from trainers.weights import Weights, as_kind, only, reject_retired

TRAIN_ACTIONS = ("oracle", "predicted", "mix", "scheduled")


class PlannerConfig(TrainerConfig):
    weights: Annotated[Weights, only("variant", "hf")] = Field(
        "variant:tiny-lm",
        validate_default=True,
        description="the base LM: variant:<name> or hf:<name or path>",
    )
    conditioning: Literal["planner", "none"] = "planner"
    train_actions: Literal["oracle", "predicted", "mix", "scheduled"] = "predicted"
    predicted_fraction: float = Field(1.0, ge=0, le=1, description="q for train_actions=mix")
    eval_actions: Literal["predicted", "oracle"] = "predicted"
    selection: Literal["hard", "soft", "st", "uniform"] = "hard"
    temperature: float = Field(1.0, gt=0)
    unfreeze: Literal["never", "immediate", "halfway"] | int = "never"
    nap_pretrain: bool = True
    nap_weight: float = Field(0.0, ge=0, description="λ in L = L_LM + λ·L_NAP")
    freeze_lm: bool = True
    layers: Literal["last-2", "all"] | list[int] = "last-2"
    planner: PlannerArch = Field(default_factory=PlannerArch)
    nap: NAPConfig = Field(default_factory=NAPConfig, description="NAP pretraining (the shared stage)")
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(32, ge=1)
    seq_len: int = Field(128, ge=2)
    lr: float = Field(1e-4, gt=0)
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    checkpoint_every: int = Field(100, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return reject_retired(cls.__name__, data, {"base": as_kind("weights", "variant")})

    @model_validator(mode="after")
    def _coherent(self) -> PlannerConfig:
        if self.conditioning == "none" and self.freeze_lm:
            raise ValueError("conditioning 'none' (the LM-only row) trains the LM: set freeze_lm: false")
        if self.unfreeze != "never" and self.selection in ("hard", "uniform"):
            raise ValueError(
                f"selection {self.selection!r} passes no gradient to the planner: unfreeze must be 'never'"
            )
        if self.nap_weight and self.unfreeze == "never":
            raise ValueError("nap_weight trains the planner: give an unfreeze schedule")
        return self

    def unfreeze_step(self) -> int | None:
        """The first step at which the planner receives gradients (None: never)."""
        if self.unfreeze == "never":
            return None
        if self.unfreeze == "immediate":
            return 0
        if self.unfreeze == "halfway":
            return self.max_steps // 2
        return int(self.unfreeze)

    def q(self, step: int) -> float:
        """Probability that a sentence's action comes from the planner at ``step``."""
        if self.train_actions == "oracle":
            return 0.0
        if self.train_actions == "predicted":
            return 1.0
        if self.train_actions == "mix":
            return self.predicted_fraction
        return step / max(1, self.max_steps - 1)


@TRAINERS.register("planner")
class PlannerTrainer(Trainer):
    Config = PlannerConfig
    version = "1"

    def artifacts(self, config: PlannerConfig) -> tuple[str, ...]:
        return ("actions",)  # also for lm-only: it trains on the same examples as the planner rows

    def capabilities(self, config: PlannerConfig) -> frozenset[str]:
        from trainers.planner.adapter import PlannerLM

        return HFCausalLM.capabilities if config.conditioning == "none" else PlannerLM.capabilities

    #: OA is trained with oracle actions and (paper protocol) evaluated with predicted ones; an
    #: oracle-at-evaluation upper bound is the same trained model: one training for both
    eval_fields = ("eval_actions",)

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after  # tests: stop once this many steps are done (a simulated kill)

    def pretrained(self, config: PlannerConfig) -> dict[str, str]:
        return {"weights": name} if (name := config.weights.pretrained()) else {}

    def context_length(self, config: PlannerConfig, required: dict[str, int | None]) -> int | None:
        """The base LM's (training windows longer than it are shortened to it, see ``train``)."""
        return config.weights.context_length(required.get("weights"))

    def fingerprint(self, config: PlannerConfig) -> str:
        """Local ``hf:`` base weights: their digest (a variant base's key is already in the key)."""
        return config.weights.fingerprint()

    def requires(self, config: PlannerConfig) -> dict[str, Requirement]:
        req: dict[str, Requirement] = {}
        if (base := config.weights.requirement()) is not None:
            req["weights"] = base
        if config.conditioning == "planner" and config.nap_pretrain:
            req["planner"] = Requirement(
                trainer="nap", params={**config.nap.model_dump(), "arch": config.planner.model_dump()}
            )
        return req

    # -- building ------------------------------------------------------------------------------------
    def _base(self, cfg: PlannerConfig, ctx: TrainContext) -> tuple[torch.nn.Module, Any]:
        path = cfg.weights.source() if cfg.weights.kind == "hf" else ctx.inputs["weights"] / "model"
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        return lm, AutoTokenizer.from_pretrained(path)

    def _model(self, cfg: PlannerConfig, ctx: TrainContext, lm: torch.nn.Module) -> PlannedLM:
        centroids = torch.from_numpy(ctx.actions.centroids)
        model = PlannedLM.build(
            lm,
            centroids,
            cfg.layers,
            ctx.actions.encoder,
            selection=cfg.selection,
            temperature=cfg.temperature,
            eval_actions=cfg.eval_actions,
            by_line=ctx.actions.by_line,
            planner=cfg.planner.model_dump(),
        )
        if "planner" in ctx.inputs:
            pretrained, info = load_planner(ctx.inputs["planner"], centroids)
            model.planner.load_state_dict(pretrained.state_dict())
            ctx.log(f"[planner] NAP-pretrained planner: val accuracy {info.get('val_accuracy')}")
        for p in model.lm.parameters():
            p.requires_grad_(not cfg.freeze_lm)
        for p in model.planner.parameters():
            p.requires_grad_(False)
        return model

    # -- one step ------------------------------------------------------------------------------------
    def weights(
        self, model: PlannedLM, cfg: PlannerConfig, batch: Batch, step: int, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token codebook weights for a batch, and the NAP loss when λ > 0.

        Only the sentences a row's window reads are planned (the NAP loss reads every sentence, so with
        λ > 0 the whole document is): the weights are those of a whole-document plan, at a fraction of
        its cost on long articles (WikiText's run to 700 sentences)."""
        q = cfg.q(step)
        spans = [(0, len(ex.actions)) for ex in batch.docs] if cfg.nap_weight else batch.spans()
        embeddings = [ex.embeddings for ex in batch.docs]
        logits = model.planner.plan_documents(embeddings, spans) if q > 0 else None
        rng = np.random.default_rng([seed, 2, step])
        per_doc = []
        for i, (ex, (lo, hi)) in enumerate(zip(batch.docs, spans, strict=True)):
            every = model.oracle_weights(ex.actions)
            oracle = every[lo : hi + 1]
            if logits is None:
                per_doc.append(oracle)
                continue
            predicted = model.sentence_weights(logits[i])
            if q >= 1.0:
                per_doc.append(predicted)
                continue
            # drawn for the whole document, so a sentence's draw does not depend on the window
            use = torch.from_numpy(rng.random(len(every)) < q)[lo : hi + 1, None]
            per_doc.append(torch.where(use, predicted, oracle))
        nap = None
        if cfg.nap_weight and logits is not None:
            pred = torch.cat([lg[:-1] for lg in logits])
            nap = torch.nn.functional.cross_entropy(pred, torch.cat([ex.actions for ex in batch.docs]))
        offsets = torch.tensor([lo for lo, _ in spans])[:, None]
        return token_weights(per_doc, batch.plan_index - offsets), nap

    def loss(
        self, model: PlannedLM, cfg: PlannerConfig, batch: Batch, step: int, seed: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        weights = None
        nap = None
        if cfg.conditioning == "planner":
            weights, nap = self.weights(model, cfg, batch, step, seed)
        logits = model(batch.input_ids, weights, use_cache=False).logits
        lm = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), batch.targets.flatten(), ignore_index=-100
        )
        total = lm + cfg.nap_weight * nap if nap is not None else lm
        parts = {"lm": float(lm.detach())}
        if nap is not None:
            parts["nap"] = float(nap.detach())
        return total, parts

    def set_planner_trainable(self, model: PlannedLM, cfg: PlannerConfig, step: int) -> bool:
        at = cfg.unfreeze_step()
        on = cfg.conditioning == "planner" and at is not None and step >= at
        for p in model.planner.parameters():
            p.requires_grad_(on)
        return on

    # -- training --------------------------------------------------------------------------------------
    def train(self, ctx: TrainContext) -> None:
        cfg: PlannerConfig = ctx.config
        wall = time.perf_counter()
        set_seed(ctx.seed)
        accelerator = make_accelerator("no")
        if accelerator.num_processes > 1:
            # the planner's parameters change requires_grad at the unfreeze step, which DDP (parameters
            # fixed at wrap time) does not allow; the adapters are small: one process trains them
            raise PlanevalError("planner fine-tuning runs in one process (lm and nap train distributed)")
        lm, tokenizer = self._base(cfg, ctx)
        model = self._model(cfg, ctx, lm)
        pid = prefix_id(tokenizer)
        train = examples(ctx.corpus.train, ctx.actions, tokenizer, pid)
        val = examples(ctx.corpus.val, ctx.actions, tokenizer, pid)
        if not train:
            raise ValueError("planner training: no training document has a sentence")
        seq_len = min(cfg.seq_len, lm.config.get_text_config().max_position_embeddings)
        # one optimizer over everything that may ever train; frozen parameters get no gradient
        trainable = [*model.conditioner.parameters(), *model.planner.parameters()]
        if not cfg.freeze_lm:
            trainable += list(model.lm.parameters())
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.0)
        scheduler = get_scheduler(
            "constant_with_warmup",
            optimizer,
            num_warmup_steps=cfg.warmup_steps,
            num_training_steps=cfg.max_steps,
        )
        loop = TrainingLoop(
            ctx, "planner", accelerator=accelerator, model=model, optimizer=optimizer, scheduler=scheduler,
            max_steps=cfg.max_steps, checkpoint_every=cfg.checkpoint_every, grad_clip=cfg.grad_clip,
            stop_after=self.stop_after, clip=trainable, track="lm",
        )  # fmt: skip
        usage: list[dict[str, Any]] = list(loop.resume().get("plan_usage", []))

        def loss(model: PlannedLM, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            batch = sample_batch(train, cfg.batch_size, seq_len, (ctx.seed, 0, step))
            return self.loss(model, cfg, batch, step, ctx.seed)

        def checkpoint_extra(done: int) -> dict[str, Any]:
            if cfg.conditioning == "planner":
                usage.append({"step": done, **plan_usage(loop.model, val or train)})
            return {"plan_usage": usage}

        result = loop.run(
            loss,
            before_step=lambda step: self.set_planner_trainable(loop.model, cfg, step),
            checkpoint_extra=checkpoint_extra,
        )
        model = loop.unwrapped()
        model.eval()
        val_losses = self._val_loss(model, cfg, val, seq_len, ctx.seed) if val else {}
        val_loss = val_losses.get("predicted" if cfg.conditioning == "planner" else "none")
        final_usage = usage[-1] if usage else None
        if final_usage and final_usage["collapsed"]:
            ctx.log(
                f"[planner] WARNING {ctx.variant.name}: the planner has collapsed — its predictions use "
                f"{final_usage['distinct']} of {final_usage['n_actions']} actions (normalised entropy "
                f"{final_usage['entropy_norm']:.3f} < {COLLAPSE_ENTROPY}); predicted-action rows then "
                "carry no plan information"
            )
        if cfg.conditioning == "none":
            model.conditioner.remove()
            model.lm.save_pretrained(ctx.out_dir / "model", safe_serialization=True)
            tokenizer.save_pretrained(ctx.out_dir / "model")
        else:
            model.save(ctx.out_dir, tokenizer)
        summary = {
            "config": cfg.model_dump(mode="json"),
            **result.summary(),
            "unfrozen_at_step": cfg.unfreeze_step(),
            "val_loss": val_loss,  # with planner-predicted actions: the paper's evaluation protocol
            "val_loss_by_actions": val_losses,
            "plan_usage": final_usage,  # action-usage entropy of the planner's predictions (collapse check)
            "plan_usage_curve": usage,
            "adapter_parameters": sum(p.numel() for p in model.conditioner.parameters()),
            "planner_parameters": sum(p.numel() for p in model.planner.parameters()),
            "lm_trained": not cfg.freeze_lm,
            "tokens_per_s": result.tokens_per_s(cfg.batch_size * seq_len),
            "train_seconds": result.seconds,
            "wall_seconds": time.perf_counter() - wall,
        }
        (ctx.out_dir / "training.json").write_text(json.dumps(summary, indent=2))
        shown = f"{val_loss:.4f}" if val_loss is not None else "n/a"
        ctx.log(f"[planner] done: train loss {summary['final_train_loss']:.4f}, val loss {shown}")

    @torch.no_grad()
    def _val_loss(
        self, model: PlannedLM, cfg: PlannerConfig, val: list, seq_len: int, seed: int
    ) -> dict[str, float]:
        """LM loss on validation windows under each action protocol: ``predicted`` (the paper's
        evaluation, whatever the training used) and ``oracle`` (the true sentences' actions, an upper
        bound); ``none`` for the LM-only row."""
        protocols = ("predicted", "oracle") if cfg.conditioning == "planner" else ("none",)
        out = {}
        for protocol in protocols:
            actions = "oracle" if protocol == "oracle" else "predicted"
            eval_cfg = cfg.model_copy(update={"train_actions": actions})
            batches = [sample_batch(val, cfg.batch_size, seq_len, (seed, 9, i)) for i in range(4)]
            out[protocol] = float(np.mean([self.loss(model, eval_cfg, b, 0, seed)[1]["lm"] for b in batches]))
        return out

    def train_identity(self, config: PlannerConfig) -> Any:
        """Mixing at q = 0 trains exactly as oracle actions do, and at q = 1 as predicted ones (the same
        batches, the same RNG draws), so they share one train stage."""
        view = super().train_identity(config)
        if config.train_actions == "mix" and config.predicted_fraction in (0.0, 1.0):
            view["train_actions"] = "oracle" if config.predicted_fraction == 0.0 else "predicted"
            view["predicted_fraction"] = PlannerConfig.model_fields["predicted_fraction"].default
        return view

    def load_model(self, artifact_dir: Path, identity: str, config: PlannerConfig) -> HFCausalLM:
        """The shared trained model, evaluated with this variant's ``eval_actions``."""
        model = self.load(artifact_dir, identity)
        if hasattr(model, "spec"):
            model.spec = replace(model.spec, eval_actions=config.eval_actions)
            model.planned.spec = model.spec
        return model

    def load(self, artifact_dir: Path, identity: str) -> HFCausalLM:
        from trainers.planner.adapter import PlannerLM

        artifact_dir = Path(artifact_dir)
        if not (artifact_dir / "planner.json").exists():  # the LM-only row: a plain causal LM
            path = artifact_dir / "model"
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
            return HFCausalLM(model, AutoTokenizer.from_pretrained(path), identity)
        return PlannerLM.from_artifact(artifact_dir, identity)


__all__ = ["TRAIN_ACTIONS", "Planner", "PlannerConfig", "PlannerTrainer"]
