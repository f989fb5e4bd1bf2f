"""The stablerl MoE transformer (src/moe/transformer.ts) written in eager PyTorch, as a user
would: the benchmark twin that bench/peers/torch_moe.py times. Benchmark-only; no test uses it.

Mirrors, module by module (parameter names and shapes as stablerl's, so the counts agree):
  embed.weight [V, D]                                  nn.Embedding, N(0, 1)
  blocks.{l}.attnNorm.weight [D]                       RMSNorm, x * rsqrt(mean(x^2) + eps) * w
  blocks.{l}.attn.{wq,wk,wv,wo} [D, D]                 bias-free, N(0, 1/D); causal, RoPE (HF
                                                       "rotate half"), masked scores = -1e30
  blocks.{l}.moeNorm.weight [D]
  blocks.{l}.moe.router.weight [E, D]                  logits = x W_r^T, U(-1/sqrt(D), 1/sqrt(D))
  blocks.{l}.moe.experts.{wGate,wUp [E,H,D], wDown [E,D,H]}   SwiGLU experts
  norm.weight [D], lmHead.weight [V, D]                untied (a separate nn.Linear, no bias)
Routing (config gate 'softmax-topk', the default): top k of the logits, gate weights = softmax
over the k selected logits (= softmax over all E, kept top k, renormalised). Aux loss per layer,
summed over layers (layer.ts):
  L_lb = alpha * E * sum_e f_e * P_e   f_e = share of the N*k choices on expert e (no grad),
                                        P_e = mean over tokens of softmax(logits)_e
  L_z  = beta * mean(logsumexp(logits)^2)
with alpha = auxLossCoef (0.01) and beta = zLossCoef (0.001) from the preset.
Expert dispatch is the HF Mixtral loop (one expert at a time on the rows routed to it, then
index_add_ of the gate-weighted outputs), which is what eager PyTorch MoE code does.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED_SCORE = -1e30

# Copies of src/moe/config.ts's presets (torch_moe.py checks them against the built package
# when node and dist/ are there).
PRESETS = {
    'moe-tiny': dict(vocabSize=32, dModel=64, nLayers=2, nHeads=4, nExperts=8, topK=2, expertHidden=128,
                     contextLength=64, gate='softmax-topk', ropeTheta=10000, auxLossCoef=0.01, zLossCoef=0.001,
                     normEps=1e-6),
    'moe-small': dict(vocabSize=64, dModel=128, nLayers=4, nHeads=4, nExperts=16, topK=2, expertHidden=256,
                      contextLength=128, gate='softmax-topk', ropeTheta=10000, auxLossCoef=0.01, zLossCoef=0.001,
                      normEps=1e-6),
}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, d, n_heads, theta, context):
        super().__init__()
        self.h = n_heads
        self.hd = d // n_heads
        std = 1 / math.sqrt(d)
        for name in ('wq', 'wk', 'wv', 'wo'):
            setattr(self, name, nn.Parameter(torch.randn(d, d) * std))
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        freqs = torch.outer(torch.arange(context, dtype=torch.float64), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer('cos', emb.cos().float(), persistent=False)
        self.register_buffer('sin', emb.sin().float(), persistent=False)

    def forward(self, x, cache=None, offset=0):
        """x [B, T, D]; cache: a dict holding this layer's 'k', 'v' [B, H, T_past, hd] (grown here)."""
        B, T, D = x.shape
        q = (x @ self.wq.T).view(B, T, self.h, self.hd).transpose(1, 2)
        k = (x @ self.wk.T).view(B, T, self.h, self.hd).transpose(1, 2)
        v = (x @ self.wv.T).view(B, T, self.h, self.hd).transpose(1, 2)
        cos, sin = self.cos[offset:offset + T], self.sin[offset:offset + T]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        past = 0
        if cache is not None:
            if 'k' in cache:
                past = cache['k'].shape[2]
                k = torch.cat((cache['k'], k), dim=2)
                v = torch.cat((cache['v'], v), dim=2)
            cache['k'], cache['v'] = k, v
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        if T > 1:
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            scores = scores.masked_fill(~mask, MASKED_SCORE)
        o = F.softmax(scores, dim=-1) @ v
        return o.transpose(1, 2).reshape(B, T, D) @ self.wo.T


class Router(nn.Module):
    def __init__(self, d, e):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(e, d).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)))


class SwiGLUExperts(nn.Module):
    def __init__(self, e, d, h):
        super().__init__()
        bd, bh = 1 / math.sqrt(d), 1 / math.sqrt(h)
        self.wGate = nn.Parameter(torch.empty(e, h, d).uniform_(-bd, bd))
        self.wUp = nn.Parameter(torch.empty(e, h, d).uniform_(-bd, bd))
        self.wDown = nn.Parameter(torch.empty(e, d, h).uniform_(-bh, bh))

    def expert(self, e, x):
        return (F.silu(x @ self.wGate[e].T) * (x @ self.wUp[e].T)) @ self.wDown[e].T


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.e, self.k = c['nExperts'], c['topK']
        self.alpha, self.beta = c['auxLossCoef'], c['zLossCoef']
        self.router = Router(c['dModel'], self.e)
        self.experts = SwiGLUExperts(self.e, c['dModel'], c['expertHidden'])

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        n = x.shape[0]
        logits = x @ self.router.weight.T  # [N, E]
        idx = torch.topk(logits, self.k, dim=-1).indices  # [N, k]
        w = F.softmax(logits.gather(1, idx), dim=-1)  # 'softmax-topk' with renormalisation
        out = torch.zeros_like(x)
        expert_mask = F.one_hot(idx, self.e).permute(2, 1, 0)  # [E, k, N]
        for e in range(self.e):
            slot, tok = torch.where(expert_mask[e])
            if tok.numel() == 0:
                continue
            y = self.experts.expert(e, x[tok]) * w[tok, slot, None]
            out.index_add_(0, tok, y)
        aux = None
        if torch.is_grad_enabled():
            with torch.no_grad():
                load = expert_mask.sum(dim=(1, 2)).to(logits.dtype) / (n * self.k)  # f_e
            aux = logits.new_zeros(())
            if self.alpha > 0:
                aux = aux + self.alpha * self.e * (F.softmax(logits, dim=-1).mean(0) * load).sum()
            if self.beta > 0:
                aux = aux + self.beta * torch.logsumexp(logits, dim=-1).square().mean()
        return out.view(shape), idx, aux


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attnNorm = RMSNorm(c['dModel'], c['normEps'])
        self.attn = Attention(c['dModel'], c['nHeads'], c['ropeTheta'], c['contextLength'])
        self.moeNorm = RMSNorm(c['dModel'], c['normEps'])
        self.moe = MoE(c)

    def forward(self, h, cache=None, offset=0):
        a = h + self.attn(self.attnNorm(h), cache, offset)
        y, idx, aux = self.moe(self.moeNorm(a))
        return a + y, idx, aux


class MoETransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        assert c['gate'] == 'softmax-topk', 'only the default gate mode is mirrored'
        self.c = c
        self.embed = nn.Embedding(c['vocabSize'], c['dModel'])
        self.blocks = nn.ModuleList([Block(c) for _ in range(c['nLayers'])])
        self.norm = RMSNorm(c['dModel'], c['normEps'])
        self.lmHead = nn.Linear(c['dModel'], c['vocabSize'], bias=False)

    def forward(self, tokens, cache=None, offset=0):
        """tokens [B, T] -> logits [B, T, V], the experts per layer, the summed aux loss (None under no_grad)."""
        h = self.embed(tokens)
        ids, aux = [], None
        for l, block in enumerate(self.blocks):
            h, idx, a = block(h, None if cache is None else cache[l], offset)
            ids.append(idx)
            if a is not None:
                aux = a if aux is None else aux + a
        return self.lmHead(self.norm(h)), ids, aux


@torch.no_grad()
def generate(model, prompts, new_tokens, temperature=1.0, generator=None):
    """Batched sampling with a KV cache, as InferenceEngine.generate: one prefill over the
    prompts [B, P], then one single-token forward per further token; each step samples from
    softmax(logits / tau) and keeps the token's log-prob and the routing."""
    cache = [dict() for _ in model.blocks]
    logits, ids, _ = model(prompts, cache, 0)
    routing, tokens, logps = [ids], [], []
    offset = prompts.shape[1]
    for step in range(new_tokens):
        lp = F.log_softmax(logits[:, -1] / temperature, dim=-1)
        tok = torch.multinomial(lp.exp(), 1, generator=generator)  # [B, 1]
        tokens.append(tok)
        logps.append(lp.gather(1, tok))
        if step + 1 < new_tokens:
            logits, ids, _ = model(tok, cache, offset)
            routing.append(ids)
            offset += 1
    return torch.cat(tokens, 1), torch.cat(logps, 1), routing
