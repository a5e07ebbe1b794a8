"""DINOv2 vision transformer with the official state-dict keys, and the VPR backbone around it.

:class:`VisionTransformer` reproduces what ``torch.hub.load('facebookresearch/dinov2', ...)``
builds (patch 14, LayerScale, LayerNorm eps 1e-6, exact GELU, optional register tokens,
SwiGLU MLP for ViT-G) so that an official ``dinov2_vit*14_pretrain.pth`` loads strictly.
:class:`DINOv2Backbone` is the VPR wrapper used by CliqueMining/SALAD (last N blocks
trainable, optional final norm, CLS token) extended with SAGE's DPN recalibration after each
of the last ``num_recalib_blocks`` blocks. Keys inside a VPR model: ``backbone.model.<vit>``
and ``backbone.gpn_norms.{k}.projection.{0,3}.*``.
"""
from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geovpr.errors import ConfigError
from geovpr.models.dpn import DPN

log = logging.getLogger(__name__)

#: Official variants: (embed_dim, depth, num_heads, ffn_layer).
VIT_VARIANTS: dict[str, tuple[int, int, int, str]] = {
    "vits14": (384, 12, 6, "mlp"),
    "vitb14": (768, 12, 12, "mlp"),
    "vitl14": (1024, 24, 16, "mlp"),
    "vitg14": (1536, 40, 24, "swiglu"),
}
#: Official number of heads per width (used when a checkpoint does not say).
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1536: 24}
PATCH_SIZE = 14


class LayerScale(nn.Module):
    """Per-channel residual scaling ``x * gamma`` (key ``gamma``)."""

    def __init__(self, dim: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection (rows: q, k, v; heads contiguous)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``fc1`` → exact GELU → ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    """ViT-G's fused SwiGLU MLP (keys ``w12``, ``w3``); hidden width rounded like the official one."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, ffn_layer: str = "mlp") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = SwiGLU(dim, mlp_hidden) if ffn_layer == "swiglu" else Mlp(dim, mlp_hidden)
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch × patch`` convolution (key ``proj``)."""

    def __init__(self, dim: int, patch_size: int = PATCH_SIZE, in_chans: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """The official DINOv2 ``DinoVisionTransformer`` (hub settings), without its unused head.

    ``interpolate_offset``/``interpolate_antialias`` default to the hub values of the
    plain models (0.1, False); the register-token hub models use (0.0, True).
    """

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        *,
        mlp_ratio: float = 4.0,
        patch_size: int = PATCH_SIZE,
        img_size: int = 518,
        num_register_tokens: int = 0,
        ffn_layer: str = "mlp",
        interpolate_offset: float = 0.1,
        interpolate_antialias: bool = False,
    ) -> None:
        super().__init__()
        if ffn_layer not in ("mlp", "swiglu"):
            raise ConfigError(f"ffn_layer must be 'mlp' or 'swiglu', got {ffn_layer!r}")
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.interpolate_offset = interpolate_offset
        self.interpolate_antialias = interpolate_antialias
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        if num_register_tokens:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, hidden, ffn_layer) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        if self.pos_embed.is_meta:  # a skeleton that a checkpoint will fill
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.num_register_tokens:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def interpolate_pos_encoding(self, h: int, w: int, dtype: torch.dtype | None = None) -> Tensor:
        """Positional table for an ``h × w`` patch grid, ``[1, 1 + h·w, C]`` (CLS first).

        Bicubic resampling of the stored square table exactly as the hub model does it:
        scale factors ``((h + offset)/M, (w + offset)/M)`` (height first), computed in float32,
        skipped only when ``(h, w)`` equals the stored ``M × M`` grid.
        """
        pos = self.pos_embed.float()
        m = int(math.sqrt(pos.shape[1] - 1))
        if h == m and w == m:
            return self.pos_embed if dtype is None else self.pos_embed.to(dtype)
        grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        if self.interpolate_offset:
            scale = ((h + self.interpolate_offset) / m, (w + self.interpolate_offset) / m)
            grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=self.interpolate_antialias)
        else:
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=self.interpolate_antialias)
        if grid.shape[-2:] != (h, w):  # pragma: no cover - guards a torch rounding change
            raise RuntimeError(f"positional grid resized to {tuple(grid.shape[-2:])}, expected {(h, w)}")
        out = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)
        return out.to(dtype or self.pos_embed.dtype)

    def grid_size(self, x: Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of an image batch; errors clearly on sizes not divisible by the patch."""
        height, width = x.shape[-2:]
        p = self.patch_size
        if height % p or width % p:
            raise ConfigError(
                f"image size {height}x{width} is not a multiple of the DINOv2 patch size {p}; "
                f"resize to e.g. {max(p, round(height / p) * p)}x{max(p, round(width / p) * p)}"
            )
        return height // p, width // p

    def prepare_tokens(self, x: Tensor) -> Tensor:
        """Patch embedding, CLS (+ register) tokens and positional embedding → ``[B, 1+R+h·w, C]``."""
        h, w = self.grid_size(x)
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.interpolate_pos_encoding(h, w, tokens.dtype)
        if self.num_register_tokens:
            regs = self.register_tokens.expand(tokens.shape[0], -1, -1)
            tokens = torch.cat([tokens[:, :1], regs, tokens[:, 1:]], dim=1)
        return tokens

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Like the official ``forward_features``: normalised CLS, register and patch tokens."""
        tokens = self.prepare_tokens(x)
        for blk in self.blocks:
            tokens = blk(tokens)
        tokens = self.norm(tokens)
        r = 1 + self.num_register_tokens
        return {
            "x_norm_clstoken": tokens[:, 0],
            "x_norm_regtokens": tokens[:, 1:r],
            "x_norm_patchtokens": tokens[:, r:],
        }

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)["x_norm_clstoken"]


class DINOv2Backbone(nn.Module):
    """VPR backbone: ViT → ``(f [B, C, h, w], t [B, C] | None)``.

    * ``num_trainable_blocks``: only the last N blocks (and the final norm if used) train; the
      token preparation and the other blocks get ``requires_grad=False`` and run under
      ``no_grad`` (N = 0 freezes every block — the reference's ``blocks[-0:]`` bug is not kept).
      N >= depth trains every block, as the reference's ``blocks[:-N]`` slicing does (its frozen
      part is then empty); it is stored as ``depth``. It is a training-only setting: any
      N >= 0 loads, so a checkpoint can always be evaluated.
    * ``norm_layer``: apply the final LayerNorm (trainable when used).
    * ``num_recalib_blocks``: SAGE DPN recalibration after each of the last K blocks.
    * ``train_embeddings``: also train the patch embedding, CLS/register tokens and positional
      table (off in every released recipe, where they stay at the pretrained values; on for
      models trained from scratch, e.g. the demo — a random frozen patch embedding cripples them).
    """

    def __init__(
        self,
        vit: VisionTransformer,
        *,
        num_trainable_blocks: int = 4,
        norm_layer: bool = True,
        return_token: bool = True,
        num_recalib_blocks: int = 0,
        dpn_hidden: int = 16,
        train_embeddings: bool = False,
    ) -> None:
        super().__init__()
        depth = vit.depth
        if isinstance(num_trainable_blocks, bool) or not isinstance(num_trainable_blocks, int) \
                or num_trainable_blocks < 0:
            raise ConfigError(f"num_trainable_blocks must be an integer >= 0, got {num_trainable_blocks!r}")
        if not 0 <= num_recalib_blocks <= depth:
            raise ConfigError(f"num_recalib_blocks must be in [0, {depth}], got {num_recalib_blocks}")
        self.model = vit
        self.num_trainable_blocks = min(num_trainable_blocks, depth)  # N >= depth: all blocks train
        self.norm_layer = norm_layer
        self.return_token = return_token
        self.num_recalib_blocks = num_recalib_blocks
        self.train_embeddings = train_embeddings
        self.gpn_norms = nn.ModuleList(DPN(vit.embed_dim, dpn_hidden) for _ in range(num_recalib_blocks))
        self._freeze()

    @property
    def out_channels(self) -> int:
        return self.model.embed_dim

    def _freeze(self) -> None:
        depth, n = self.model.depth, self.num_trainable_blocks
        for name, p in self.model.named_parameters():
            if name.startswith("blocks."):
                p.requires_grad_(int(name.split(".")[1]) >= depth - n)
            elif name.startswith("norm."):
                p.requires_grad_(self.norm_layer)
            else:  # patch embedding, tokens, positions (mask_token is never used)
                p.requires_grad_(self.train_embeddings and name != "mask_token")

    def _first_grad_block(self) -> int:
        """Index of the first block whose output needs a graph (trainable block or DPN after it)."""
        depth = self.model.depth
        if self.train_embeddings:
            return 0
        return min(depth - self.num_trainable_blocks, depth - self.num_recalib_blocks)

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """``f`` [B, C, h, w], ``t`` [B, C] and ``dpn_exponents`` [B, K] (K recalibrated blocks)."""
        vit = self.model
        h, w = vit.grid_size(x)
        first_grad = self._first_grad_block()
        exponents: list[Tensor] = []
        recalib_from = vit.depth - self.num_recalib_blocks
        embed_ctx = contextlib.nullcontext() if self.train_embeddings else torch.no_grad()
        with embed_ctx:  # patch embedding, CLS and positions: frozen unless train_embeddings
            tokens = vit.prepare_tokens(x)
        for i, blk in enumerate(vit.blocks):
            ctx = torch.no_grad() if i < first_grad else contextlib.nullcontext()
            with ctx:
                tokens = blk(tokens)
                if i >= recalib_from:
                    tokens, e = self.gpn_norms[i - recalib_from](tokens, return_exponent=True)
                    exponents.append(e)
        if self.norm_layer:
            tokens = vit.norm(tokens)
        r = 1 + vit.num_register_tokens
        f = tokens[:, r:].reshape(tokens.shape[0], h, w, -1).permute(0, 3, 1, 2)
        out = {"f": f, "t": tokens[:, 0]}
        out["dpn_exponents"] = torch.stack(exponents, dim=1) if exponents else tokens.new_zeros(tokens.shape[0], 0)
        return out

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.forward_features(x)
        return out["f"], (out["t"] if self.return_token else None)

    @property
    def config(self) -> dict[str, Any]:
        vit = self.model
        mlp = vit.blocks[0].mlp if vit.depth else None
        ffn = "swiglu" if isinstance(mlp, SwiGLU) else "mlp"
        hidden = mlp.fc1.out_features if isinstance(mlp, Mlp) else 4 * vit.embed_dim
        return {
            "name": "dinov2",
            "embed_dim": vit.embed_dim,
            "depth": vit.depth,
            "num_heads": vit.num_heads,
            "mlp_ratio": hidden / vit.embed_dim,
            "patch_size": vit.patch_size,
            "img_size": int(math.sqrt(vit.pos_embed.shape[1] - 1)) * vit.patch_size,
            "num_register_tokens": vit.num_register_tokens,
            "ffn_layer": ffn,
            "interpolate_offset": vit.interpolate_offset,
            "interpolate_antialias": vit.interpolate_antialias,
            "num_trainable_blocks": self.num_trainable_blocks,
            "norm_layer": self.norm_layer,
            "return_token": self.return_token,
            "num_recalib_blocks": self.num_recalib_blocks,
            "dpn_hidden": self.gpn_norms[0].hidden if self.num_recalib_blocks else 16,
            "train_embeddings": self.train_embeddings,
        }


VIT_KEYS = (
    "embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size", "img_size", "num_register_tokens",
    "ffn_layer", "interpolate_offset", "interpolate_antialias",
)
BACKBONE_KEYS = (
    "num_trainable_blocks", "norm_layer", "return_token", "num_recalib_blocks", "dpn_hidden", "train_embeddings",
)


def vit_config(variant: str, *, registers: bool = False) -> dict[str, Any]:
    """Config of an official variant (``vits14``, ``vitb14``, ``vitl14``, ``vitg14``)."""
    if variant not in VIT_VARIANTS:
        raise ConfigError(f"unknown DINOv2 variant {variant!r}; choose one of {sorted(VIT_VARIANTS)}")
    dim, depth, heads, ffn = VIT_VARIANTS[variant]
    return {
        "embed_dim": dim, "depth": depth, "num_heads": heads, "mlp_ratio": 4.0, "patch_size": PATCH_SIZE,
        "img_size": 518, "num_register_tokens": 4 if registers else 0, "ffn_layer": ffn,
        "interpolate_offset": 0.0 if registers else 0.1, "interpolate_antialias": registers,
    }


def build_backbone(cfg: dict[str, Any]) -> DINOv2Backbone:
    """Backbone from a config dict (``name`` = ``"dinov2"``; unknown keys are an error)."""
    cfg = dict(cfg)
    name = cfg.pop("name", "dinov2")
    if name != "dinov2":
        raise ConfigError(f"unknown backbone {name!r}; available: ['dinov2']")
    if "variant" in cfg:
        cfg = {**vit_config(cfg.pop("variant"), registers=bool(cfg.pop("registers", False))), **cfg}
    unknown = set(cfg) - set(VIT_KEYS) - set(BACKBONE_KEYS)
    if unknown:
        raise ConfigError(f"unknown backbone option(s) {sorted(unknown)}")
    vit = VisionTransformer(**{k: cfg[k] for k in VIT_KEYS if k in cfg})
    return DINOv2Backbone(vit, **{k: cfg[k] for k in BACKBONE_KEYS if k in cfg})


def variant_name(embed_dim: int) -> str | None:
    """Official variant name for a width (``768 → 'vitb14'``), or None."""
    for name, (dim, *_rest) in VIT_VARIANTS.items():
        if dim == embed_dim:
            return name
    return None
