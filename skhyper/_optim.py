"""The optimizer the estimators train with: AdamW in one fused kernel.

``torch.optim.AdamW(fused=True)`` runs the same kernel, but constructing any
``torch.optim.Optimizer`` imports ``torch._dynamo`` (its methods are wrapped
in ``torch._disable_dynamo``), which took 1.0-1.3 s in a fresh process here:
the first fit of every process, joblib worker or Dask worker paid it. This
class keeps the optimizer interface that skorch and the callbacks use
(``param_groups``, ``state``, ``step``, ``zero_grad``, ``state_dict``) and
calls the fused kernel directly; where torch has no such kernel, the
estimators fall back to ``torch.optim.AdamW`` (:func:`adamw_class`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import torch

from ._compat import has_fused_adamw


def adamw_class() -> type:
    """:class:`FusedAdamW`, or the plain ``torch.optim.AdamW`` on a torch
    whose fused kernel does not run on a CPU (before 2.4)."""
    return FusedAdamW if has_fused_adamw() else torch.optim.AdamW


class FusedAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay) over float tensors on one device.

    It is a ``torch.optim.Optimizer`` for ``isinstance`` checks (skorch
    registers optimizers by them) but does not run the base class's
    constructor or methods, whose ``torch._disable_dynamo`` wrappers import
    ``torch._dynamo``; everything it offers is defined here.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        The parameters, or parameter groups (dicts with ``"params"`` and
        any of the options below, which override the defaults).
    lr, betas, eps, weight_decay : as for ``torch.optim.AdamW``
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        self.defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
        }
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("FusedAdamW got an empty parameter list.")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def add_param_group(self, group: dict) -> None:
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        self.param_groups.append({**self.defaults, **group, "params": params})

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.zero_()

    def _state_of(self, param: torch.Tensor) -> dict:
        state = self.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        return state

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient; returns what
        ``closure`` (if given) returns."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self._state_of(p) for p in params]
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adamw_(
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        return loss

    def state_dict(self) -> dict:
        """Like ``torch.optim.Optimizer.state_dict``: the groups' options,
        and each parameter's state under its position."""
        groups, state, position = [], {}, 0
        for group in self.param_groups:
            positions = list(range(position, position + len(group["params"])))
            for at, param in zip(positions, group["params"], strict=True):
                if self.state.get(param):
                    state[at] = dict(self.state[param])
            position += len(positions)
            groups.append({**group, "params": positions})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` saved, onto these parameters."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups) or any(
            len(s["params"]) != len(g["params"])
            for s, g in zip(saved, self.param_groups, strict=True)
        ):
            raise ValueError(
                "The saved optimizer state has other parameter groups than "
                "this optimizer; it belongs to another network."
            )
        self.state = defaultdict(dict)
        for saved_group, group in zip(saved, self.param_groups, strict=True):
            for key, value in saved_group.items():
                if key != "params":
                    group[key] = value
            for saved_id, param in zip(
                saved_group["params"], group["params"], strict=True
            ):
                if saved_id in state_dict["state"]:
                    self.state[param] = {
                        key: value.to(param.device)
                        for key, value in state_dict["state"][saved_id].items()
                    }
