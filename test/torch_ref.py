#!/usr/bin/env python3
"""torch_ref.py — an independent PyTorch reference for ultrathink.h (the golden test).

The model below is written from the math in ultrathink.h's comments, not from its
C code: plain tensors held as nn.Parameter, and autograd for every gradient (no
hand-written backward). test/test_torch.c loads the state file this script
writes, runs the C forward, backward and AdamW on the same weights and batch,
and compares every number.

    /usr/bin/python3 test/torch_ref.py --config dense --out FILE
    /usr/bin/python3 test/torch_ref.py --config moe   --out FILE
    /usr/bin/python3 test/torch_ref.py --hf DIR --prompt TOKENS --probs FILE   (issue 15:
        an exported Hugging Face folder, read with our own safetensors reader,
        gives the C model's probabilities; see hf_check)

  dense: untied LM head, grouped-query attention (4 query heads share 2 KV
         heads, H*HD != D), full causal attention, SwiGLU MLP, one ignored
         target (-1) in the batch.
  moe:   4 experts top-2, tied embeddings, sliding window 5 < T = 16, aux and
         z-loss coefficients made large (0.1, 0.05) so their gradients matter.

All the math runs in float64, so the oracle carries no float noise; the file
stores float32 values. Every weight is drawn in float64 and then rounded to
float32 before use, so both sides start from exactly the same numbers; every
float setting (theta, eps, lr, ...) is rounded to float32 too, because the C
side keeps them as float.

THE STATE FILE (little-endian; sizes in elements; N = B*T, P = sum of tensor sizes)
  five text lines, each ending in '\n':
    ut-torch-ref 1 NAME
    config V=.. maxT=.. L=.. D=.. H=.. KVH=.. HD=.. F=.. E=.. K=.. tie=.. window=.. theta=.. eps=.. aux_coef=.. z_coef=..
    batch B=.. T=..
    train steps=.. warmup=.. total=.. lr=.. min_lr=.. beta1=.. beta2=.. eps=.. wd=.. clip=..
    tensors tok_emb:SIZE attn_norm:SIZE ... lm_head:SIZE     (the 13 ut tensors, in order)
  then raw arrays, in this order:
    inputs        int32   N          (B, T) token ids
    targets       int32   N          (B, T), -1 = no target
    params        float32 P          the 13 tensors in ut order, layouts as in section 3
                                     of ultrathink.h (nn.Linear (out, in); experts
                                     (L, E, F, D) for gate/up, (L, E, D, F) for down)
    logits        float32 N*V        of the first forward
    probs         float32 N*V        softmax(logits)
    losses        float32 3          cross-entropy (mean over targets >= 0), aux, z
                                     (aux, z: mean over layers; 0 for a dense model)
    router_probs  float32 L*N*E      layer l's router softmax (0 elements if E == 1)
    grads         float32 P          gradient of CE + aux_coef*aux + z_coef*z
    train_losses  float32 (steps+1)*3  (ce, aux, z) before each AdamW step, and
                                     once more after the last step
    train_steps   float32 steps*2    (lr used, global grad norm before clipping)
    final_params  float32 P          the weights after the last step
  and nothing after.

Training: `steps` AdamW steps on the same batch, torch.optim.AdamW (decoupled
weight decay on every tensor except the three RMSNorm weights), gradients first
clipped to global L2 norm `clip` (scale min(1, clip/norm)), the learning rate set
each step to the warmup + cosine schedule documented at ut_lr_at:
    s < warmup:  lr * (s+1) / warmup
    else:        min_lr + 0.5 (lr - min_lr)(1 + cos(pi * min(1, (s-warmup)/(total-warmup-1))))

MoE routing is a hard top-k choice: if two router probabilities were nearly equal
at the K-th place, float32 (C) and float64 (here) could pick different experts
and every later number would disagree for a reason that is not a bug. So the
script measures, over every token and layer, the gap between the K-th and
(K+1)-th largest router probability, and moves to the next seed until that gap
is at least MIN_TOPK_MARGIN (1e-3) in the forward whose gradients are compared
and at least MIN_TOPK_MARGIN_TRAIN (1e-4) in the 11 forwards of the training
run (as the weights move, some token's K-th and (K+1)-th experts are bound to
swap somewhere along the run, so gaps there are smaller). The C and reference
router probabilities differ by about 1e-6; a routing flip would show up as a
loud failure of the aux loss (f_e jumps by 1/(N*K)), never as a silent pass.
"""
import argparse
import json
import math
import os
import struct
import sys
from array import array

import torch
import torch.nn as nn
import torch.nn.functional as Fn

TENSOR_NAMES = ["tok_emb", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm",
                "router", "w_gate", "w_up", "w_down", "final_norm", "lm_head"]
NORM_TENSORS = ("attn_norm", "ffn_norm", "final_norm")
MIN_TOPK_MARGIN = 1e-3        # router probabilities, first forward (gradients)
MIN_TOPK_MARGIN_TRAIN = 1e-4  # router probabilities, the training run


def f32(x):
    """x rounded to the nearest float32 (the C side keeps settings as float)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


CONFIGS = {
    "dense": dict(V=97, maxT=16, L=2, D=48, H=4, KVH=2, HD=8, F=96, E=1, K=1, tie=0,
                  window=0, theta=10000.0, eps=1e-5, aux_coef=0.01, z_coef=0.001,
                  B=3, T=16, seed=1),
    "moe": dict(V=64, maxT=16, L=2, D=32, H=4, KVH=2, HD=8, F=48, E=4, K=2, tie=1,
                window=5, theta=10000.0, eps=1e-5, aux_coef=0.1, z_coef=0.05,
                B=2, T=16, seed=1),
}
TRAIN = dict(steps=10, warmup=3, total=10, lr=1e-2, min_lr=1e-3, beta1=0.9, beta2=0.95,
             eps=1e-8, wd=0.1, clip=1.0)


def tensor_shapes(c):
    V, L, D, H, KVH, HD, F, E = (c[k] for k in ("V", "L", "D", "H", "KVH", "HD", "F", "E"))
    return {
        "tok_emb": (V, D), "attn_norm": (L, D), "wq": (L, H * HD, D), "wk": (L, KVH * HD, D),
        "wv": (L, KVH * HD, D), "wo": (L, D, H * HD), "ffn_norm": (L, D),
        "router": (L, E, D) if E > 1 else (0,),
        "w_gate": (L, E, F, D), "w_up": (L, E, F, D), "w_down": (L, E, D, F),
        "final_norm": (D,), "lm_head": (0,) if c["tie"] else (V, D),
    }


class RefModel(nn.Module):
    """Llama/Mixtral-style decoder, one nn.Parameter per ut tensor (all layers stacked)."""

    def __init__(self, c, gen):
        super().__init__()
        self.c = c
        D, F, QD = c["D"], c["F"], c["H"] * c["HD"]
        # Larger than the C init (0.02) on purpose: attention is far from uniform,
        # routing is decisive, norm weights are not all 1, so every path carries
        # a gradient big enough to test.
        std = {"tok_emb": 0.15, "wq": D ** -0.5, "wk": D ** -0.5, "wv": D ** -0.5,
               "wo": 0.5 * QD ** -0.5, "router": 2.0 * D ** -0.5, "w_gate": D ** -0.5,
               "w_up": D ** -0.5, "w_down": 0.5 * F ** -0.5, "lm_head": D ** -0.5}
        for name, shape in tensor_shapes(c).items():
            if name in NORM_TENSORS:
                w = 1.0 + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
            else:
                w = std[name] * torch.randn(shape, generator=gen, dtype=torch.float64)
            w = w.to(torch.float32).to(torch.float64)   # exactly representable in float32
            setattr(self, name, nn.Parameter(w))
        # RoPE angles: position p, pair i: p * theta^(-2i/HD)
        HD = c["HD"]
        inv = c["theta"] ** (-2.0 * torch.arange(HD // 2, dtype=torch.float64) / HD)
        ang = torch.arange(c["maxT"], dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = torch.cos(ang), torch.sin(ang)

    def params_in_order(self):
        return [getattr(self, n) for n in TENSOR_NAMES]

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["eps"]) * w

    def rope(self, x):
        """x (B, T, nh, HD), rotate-half layout: feature i pairs with i + HD/2."""
        T, half = x.shape[1], x.shape[3] // 2
        cos, sin = self.cos[:T, None, :], self.sin[:T, None, :]
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    def attention(self, xn, l):
        c = self.c
        B, T, _ = xn.shape
        H, KVH, HD = c["H"], c["KVH"], c["HD"]
        q = (xn @ self.wq[l].T).view(B, T, H, HD)
        k = (xn @ self.wk[l].T).view(B, T, KVH, HD)
        v = (xn @ self.wv[l].T).view(B, T, KVH, HD)
        q, k = self.rope(q), self.rope(k)
        # query head h reads kv head h // (H/KVH): repeat each kv head H/KVH times
        k = k.repeat_interleave(H // KVH, dim=2)
        v = v.repeat_interleave(H // KVH, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))          # (B, H, T, HD)
        s = q @ k.transpose(-1, -2) / math.sqrt(HD)
        t_idx = torch.arange(T)[:, None]
        u_idx = torch.arange(T)[None, :]
        visible = u_idx <= t_idx
        if c["window"] > 0:
            visible = visible & (t_idx - u_idx < c["window"])
        s = s.masked_fill(~visible, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v                          # (B, H, T, HD)
        return y.transpose(1, 2).reshape(B, T, H * HD) @ self.wo[l].T

    def swiglu(self, x, l, e):
        return (Fn.silu(x @ self.w_gate[l, e].T) * (x @ self.w_up[l, e].T)) @ self.w_down[l, e].T

    def moe(self, xn, l):
        """Every expert runs on every token (a dense dispatch, unlike the C slot
        sort); the top-k mask and renormalised weights pick what counts."""
        c = self.c
        B, T, D = xn.shape
        E, K, N = c["E"], c["K"], B * T
        x = xn.reshape(N, D)
        logits = x @ self.router[l].T                              # (N, E)
        p = torch.softmax(logits, dim=-1)
        lse = torch.logsumexp(logits, dim=-1)
        srt = torch.sort(p.detach(), dim=-1, descending=True).values
        margin = (srt[:, K - 1] - srt[:, K]).min().item()
        topv, topi = torch.topk(p, K, dim=-1)
        w = topv / topv.sum(-1, keepdim=True)                      # renormalised over the K
        out = torch.zeros_like(x)
        for e in range(E):
            coef = (w * (topi == e)).sum(-1)                       # 0 if e not chosen
            out = out + coef[:, None] * self.swiglu(x, l, e)
        f = torch.stack([(topi == e).sum() for e in range(E)]).to(p.dtype) / (N * K)
        P = p.mean(0)
        aux = E * (f * P).sum()
        z = (lse ** 2).mean()
        return out.view(B, T, D), aux, z, p, margin

    def forward(self, inputs, targets):
        c = self.c
        L = c["L"]
        x = self.tok_emb[inputs]
        aux = torch.zeros((), dtype=torch.float64)
        z = torch.zeros((), dtype=torch.float64)
        router_probs, margin = [], float("inf")
        for l in range(L):
            x = x + self.attention(self.rmsnorm(x, self.attn_norm[l]), l)
            xn = self.rmsnorm(x, self.ffn_norm[l])
            if c["E"] == 1:
                x = x + self.swiglu(xn, l, 0)
            else:
                f, a, zz, p, mg = self.moe(xn, l)
                x = x + f
                aux, z = aux + a / L, z + zz / L
                router_probs.append(p)
                margin = min(margin, mg)
        xn = self.rmsnorm(x, self.final_norm)
        head = self.tok_emb if c["tie"] else self.lm_head
        logits = xn @ head.T
        ce = Fn.cross_entropy(logits.reshape(-1, c["V"]), targets.reshape(-1), ignore_index=-1)
        return logits, ce, aux, z, router_probs, margin


def lr_at(t, s):
    if s < t["warmup"]:
        return t["lr"] * (s + 1) / t["warmup"]
    decay = t["total"] - t["warmup"]
    progress = (s - t["warmup"]) / (decay - 1) if decay > 1 else 1.0
    progress = min(progress, 1.0)
    return t["min_lr"] + 0.5 * (t["lr"] - t["min_lr"]) * (1.0 + math.cos(math.pi * progress))


def run(c, t, seed):
    """Builds the model and batch from seed, does the first forward/backward and
    the training run. Returns everything the file needs, and the smallest top-k
    margins of the first forward and of the training run."""
    gen = torch.Generator().manual_seed(seed)
    model = RefModel(c, gen)
    B, T, V = c["B"], c["T"], c["V"]
    inputs = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    if c["E"] == 1:
        targets[1, 5] = -1        # an ignored position: the mean is over the other N-1
    objective = lambda ce, aux, z: ce + c["aux_coef"] * aux + c["z_coef"] * z

    logits, ce, aux, z, rprobs, margin = model(inputs, targets)
    objective(ce, aux, z).backward()
    out = dict(inputs=inputs, targets=targets,
               params=[p.detach().clone() for p in model.params_in_order()],
               logits=logits.detach(), probs=torch.softmax(logits.detach(), -1),
               losses=[ce.item(), aux.item(), z.item()],
               router_probs=[p.detach() for p in rprobs],
               grads=[p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                      for p in model.params_in_order()])

    params = model.params_in_order()
    decay = [p for n, p in zip(TENSOR_NAMES, params) if n not in NORM_TENSORS and p.numel()]
    no_decay = [p for n, p in zip(TENSOR_NAMES, params) if n in NORM_TENSORS]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"])
    train_losses, train_steps, train_margin = [], [], float("inf")
    for s in range(t["steps"] + 1):
        opt.zero_grad(set_to_none=False)
        _, ce, aux, z, _, mg = model(inputs, targets)
        train_margin = min(train_margin, mg)
        train_losses += [ce.item(), aux.item(), z.item()]
        if s == t["steps"]:
            break
        objective(ce, aux, z).backward()
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params if p.grad is not None))
        if t["clip"] > 0 and norm > t["clip"]:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(t["clip"] / norm)
        lr = lr_at(t, s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        train_steps += [lr, norm]
    out.update(train_losses=train_losses, train_steps=train_steps,
               final_params=[p.detach().clone() for p in params])
    return out, margin, train_margin


def write_state(path, name, c, t, st):
    shapes = tensor_shapes(c)
    sizes = [math.prod(shapes[n]) if shapes[n] != (0,) else 0 for n in TENSOR_NAMES]
    g = lambda x: repr(float(x))
    lines = [
        f"ut-torch-ref 1 {name}",
        "config " + " ".join(f"{k}={g(c[k]) if isinstance(c[k], float) else c[k]}"
                             for k in ("V", "maxT", "L", "D", "H", "KVH", "HD", "F", "E", "K",
                                       "tie", "window", "theta", "eps", "aux_coef", "z_coef")),
        f"batch B={c['B']} T={c['T']}",
        "train " + " ".join(f"{k}={g(t[k]) if isinstance(t[k], float) else t[k]}"
                            for k in ("steps", "warmup", "total", "lr", "min_lr", "beta1",
                                      "beta2", "eps", "wd", "clip")),
        "tensors " + " ".join(f"{n}:{s}" for n, s in zip(TENSOR_NAMES, sizes)),
    ]

    def floats(xs):
        if isinstance(xs, (list, tuple)) and xs and isinstance(xs[0], torch.Tensor):
            xs = torch.cat([x.reshape(-1) for x in xs]) if xs else []
        if isinstance(xs, torch.Tensor):
            xs = xs.reshape(-1).tolist()
        return array("f", xs).tobytes()

    def ints(x):
        return array("i", x.reshape(-1).tolist()).tobytes()

    blob = b"".join([
        ints(st["inputs"]), ints(st["targets"]),
        floats(st["params"]), floats(st["logits"]), floats(st["probs"]),
        floats(st["losses"]), floats(st["router_probs"]) if st["router_probs"] else b"",
        floats(st["grads"]), floats(st["train_losses"]), floats(st["train_steps"]),
        floats(st["final_params"]),
    ])
    with open(path, "wb") as fh:
        fh.write(("\n".join(lines) + "\n").encode("ascii"))
        fh.write(blob)


def read_safetensors(path):
    """The safetensors format from its specification, without the library:
    u64 N (little-endian), N bytes of JSON {name: {dtype, shape,
    data_offsets: [begin, end]}, "__metadata__": {...}}, then the data block
    (offsets count from its start). Returns {name: float64 tensor}."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack_from("<Q", blob, 0)[0]
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    kinds = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, size = kinds[info["dtype"]]
        b, e = info["data_offsets"]
        count = math.prod(info["shape"])
        if e - b != count * size or e > len(data):
            raise ValueError(f"{name}: data_offsets {b}..{e} do not hold {count} x {info['dtype']}")
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dtype) if count else torch.zeros(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def hf_check(args):
    """--hf DIR: load an exported Hugging Face folder (config.json + our own
    safetensors reader), put the tensors back into the reference model under
    their Hugging Face names, run it on the prompt + the continuation that
    `train sample --temperature 0 --probs FILE` generated, and compare the
    log-probabilities of every generated position with the C ones (1e-4)."""
    with open(os.path.join(args.hf, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(args.hf, "model.safetensors"))
    moe = cfg["model_type"] == "mixtral"
    c = dict(V=cfg["vocab_size"], maxT=cfg["max_position_embeddings"], L=cfg["num_hidden_layers"],
             D=cfg["hidden_size"], H=cfg["num_attention_heads"], KVH=cfg["num_key_value_heads"],
             HD=cfg["head_dim"], F=cfg["intermediate_size"], E=cfg.get("num_local_experts", 1) if moe else 1,
             K=cfg.get("num_experts_per_tok", 1) if moe else 1, tie=int(cfg["tie_word_embeddings"]),
             window=cfg.get("sliding_window") or 0, theta=f32(cfg["rope_theta"]), eps=f32(cfg["rms_norm_eps"]),
             aux_coef=0.0, z_coef=0.0)
    model = RefModel(c, torch.Generator().manual_seed(0))
    L, E = c["L"], c["E"]
    lay = "model.layers.{}."
    stack = lambda fmt: torch.stack([w[lay.format(l) + fmt] for l in range(L)])
    with torch.no_grad():
        model.tok_emb.copy_(w["model.embed_tokens.weight"])
        model.attn_norm.copy_(stack("input_layernorm.weight"))
        model.ffn_norm.copy_(stack("post_attention_layernorm.weight"))
        for ours, theirs in (("wq", "q_proj"), ("wk", "k_proj"), ("wv", "v_proj"), ("wo", "o_proj")):
            getattr(model, ours).copy_(stack(f"self_attn.{theirs}.weight"))
        if moe:
            model.router.copy_(stack("block_sparse_moe.gate.weight"))
            ex = lambda name: torch.stack([torch.stack([w[lay.format(l) + f"block_sparse_moe.experts.{e}.{name}.weight"]
                                                        for e in range(E)]) for l in range(L)])
            model.w_gate.copy_(ex("w1")); model.w_up.copy_(ex("w3")); model.w_down.copy_(ex("w2"))
        else:
            for ours, theirs in (("w_gate", "gate_proj"), ("w_up", "up_proj"), ("w_down", "down_proj")):
                getattr(model, ours).copy_(stack(f"mlp.{theirs}.weight")[:, None])
        model.final_norm.copy_(w["model.norm.weight"])
        if not c["tie"]:
            model.lm_head.copy_(w["lm_head.weight"])
    # the prompt (a token file of `tokenizer encode`), then the generated ids
    with open(args.prompt, "rb") as f:
        tb = f.read()
    width = struct.unpack_from("<I", tb, 12)[0]
    prompt = list(array("H" if width == 2 else "I", tb[32:]))
    probs = array("f")
    with open(args.probs, "rb") as f:
        probs.frombytes(f.read())
    V = c["V"]
    ours = torch.tensor(probs, dtype=torch.float64).view(-1, V)
    gen = ours.argmax(-1).tolist()
    seq = torch.tensor([prompt + gen[:-1]])
    with torch.no_grad():
        logits = model(seq, torch.full_like(seq, -1))[0][0]
    ref = torch.log_softmax(logits, -1)[len(prompt) - 1:]
    diff = (ref - torch.log(ours)).abs().max().item()
    name = args.name or "safetensors"
    verdict = "PASS" if diff <= 1e-4 else "FAIL"
    print(f"{verdict} {name} ({os.path.basename(os.path.normpath(args.hf))}: {len(w)} tensors read from "
          f"model.safetensors by our own reader; max |log p_torch - log p_ours| = {diff:.2e} over {len(gen)} "
          f"positions x {V} tokens; bound 1e-4)")
    return 0 if verdict == "PASS" else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS))
    ap.add_argument("--out")
    ap.add_argument("--hf", help="an exported Hugging Face folder to check (with --prompt, --probs)")
    ap.add_argument("--prompt", help="--hf: the prompt as a token file (tokenizer encode)")
    ap.add_argument("--probs", help="--hf: train sample --temperature 0 --probs FILE of that prompt")
    ap.add_argument("--name", help="--hf: the test's name in the PASS/FAIL line")
    args = ap.parse_args()
    if args.hf:
        torch.set_grad_enabled(False)
        sys.exit(hf_check(args))
    if not args.config or not args.out:
        ap.error("--config and --out are required (or --hf)")
    if sys.byteorder != "little" or array("i").itemsize != 4 or array("f").itemsize != 4:
        sys.exit("torch_ref.py: needs a little-endian machine with 4-byte int and float")
    torch.set_grad_enabled(True)
    c = dict(CONFIGS[args.config])
    for k in ("theta", "eps", "aux_coef", "z_coef"):
        c[k] = f32(c[k])
    t = {k: f32(v) if isinstance(v, float) else v for k, v in TRAIN.items()}
    for seed in range(c["seed"], c["seed"] + 50):
        st, margin, train_margin = run(c, t, seed)
        if c["E"] == 1 or (margin >= MIN_TOPK_MARGIN and train_margin >= MIN_TOPK_MARGIN_TRAIN):
            break
        print(f"torch_ref: seed {seed}: top-k margin {margin:.2e} (training run {train_margin:.2e}), "
              f"below {MIN_TOPK_MARGIN:g} ({MIN_TOPK_MARGIN_TRAIN:g}): reseeding")
    else:
        sys.exit("torch_ref.py: no seed gave a clear top-k routing")
    write_state(args.out, args.config, c, t, st)
    extra = (f", smallest top-{c['K']} margin {margin:.3g} (training run {train_margin:.3g})"
             if c["E"] > 1 else "")
    print(f"torch_ref: {args.config}: seed {seed}, loss {st['losses'][0]:.6f}{extra}, "
          f"grad norms {', '.join(f'{x:.3g}' for x in st['train_steps'][1::2])}")


if __name__ == "__main__":
    main()
