# Exports tiny random Hugging Face causal LMs to ONNX with torch's own exporters (the TorchScript one that optimum
# uses, and torch.export/dynamo) and writes float64 PyTorch references for the attention and gradient explanations:
# test/fixtures/torch-exports/ holds the result, read by test/integration/gradients/torch-exports.test.ts.
# Needs torch, transformers, tokenizers, onnx and onnxruntime (checked with torch 2.11, transformers 5.17, on a
# machine lent for it: this project's own machines have no Python ML stack). Usage:
#   TORCH_EXPORTS_DIR=test/fixtures/torch-exports python3 scripts/torch-exports.py [--all | NAME...]
# Without arguments it writes the variants the repository keeps; --all adds ten more that were checked once
# (qwen2, qwen3, gemma, gpt_neox, starcoder2, olmo2, phi3 and the dynamo exports of llama, gpt2 and gemma2).
# Both then also write llama-q8 / gpt2-q8 and llama-q4 / gpt2-q4: onnxruntime's quantize_dynamic and
# MatMulNBitsQuantizer applied to those exports, as transformers.js makes its model_quantized.onnx and model_q4.onnx.
import copy, inspect, json, os, sys, time, traceback
import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

OUT = os.environ.get('OUT', '/tmp/out')
WORK = os.environ.get('TORCH_EXPORTS_DIR', '/tmp/hf')
os.makedirs(WORK, exist_ok=True)
torch.manual_seed(0)
V = 512
BASE = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.1, tie_word_embeddings=False,
            bos_token_id=1, eos_token_id=2, pad_token_id=3)
ARCHS = {
    'llama': dict(),
    'gpt2': dict(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab_size=V, initializer_range=0.1,
                 bos_token_id=1, eos_token_id=2, pad_token_id=3, _plain=True),
    'qwen2': dict(tie_word_embeddings=True),
    'qwen3': dict(head_dim=32),
    'phi3': dict(),
    'gemma': dict(head_dim=16, hidden_activation='gelu_pytorch_tanh', tie_word_embeddings=True),
    'gemma2': dict(head_dim=16, query_pre_attn_scalar=16, sliding_window=64, final_logit_softcapping=30.0,
                   attn_logit_softcapping=50.0, tie_word_embeddings=True),
    'gemma3_text': dict(head_dim=16, query_pre_attn_scalar=16, sliding_window=64, tie_word_embeddings=True),
    'gpt_neox': dict(rotary_pct=0.25, partial_rotary_factor=0.25),
    'phi': dict(partial_rotary_factor=0.5),
    'granite': dict(embedding_multiplier=12.0, residual_multiplier=0.22, attention_multiplier=0.0625, logits_scaling=8.0),
    'starcoder2': dict(),
    'olmo2': dict(),
    'opt': dict(ffn_dim=128, word_embed_proj_dim=64, _drop=['intermediate_size', 'num_key_value_heads']),
    'bloom': dict(n_layer=2, n_head=4, _drop=['intermediate_size', 'num_key_value_heads', 'num_hidden_layers', 'num_attention_heads']),
    'falcon': dict(new_decoder_architecture=False, multi_query=True, alibi=False, parallel_attn=True, bias=False,
                   _drop=['intermediate_size', 'num_key_value_heads']),
}
IDS = [1, 17, 402, 33, 250, 96, 7, 311, 58, 120, 44, 489, 205, 9, 77, 301]
PROMPT = 10
FOIL = 5


def make_config(arch):
    spec = dict(ARCHS[arch])
    drop = spec.pop('_drop', [])
    if spec.pop('_plain', False):
        kw = spec
    else:
        kw = {k: v for k, v in BASE.items() if k not in drop}
        kw.update(spec)
    cfg = AutoConfig.for_model(arch, **kw)
    return cfg


def tokenizer_files(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    vocab = {'<unk>': 0, '<s>': 1, '</s>': 2, '<pad>': 3}
    for i in range(4, V):
        vocab[f'w{i}'] = i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix='##')
    tok.add_special_tokens(['<unk>', '<s>', '</s>', '<pad>'])
    tok.save(os.path.join(folder, 'tokenizer.json'))
    json.dump({'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<s>', 'eos_token': '</s>', 'unk_token': '<unk>',
               'pad_token': '<pad>', 'add_bos_token': True, 'model_max_length': 128}, open(os.path.join(folder, 'tokenizer_config.json'), 'w'))


def accepts(model, name):
    return name in inspect.signature(model.forward).parameters


class Plain(torch.nn.Module):
    def __init__(self, m, pos):
        super().__init__()
        self.m, self.pos = m, pos

    def forward(self, input_ids, attention_mask, position_ids=None):
        kw = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        if self.pos:
            kw['position_ids'] = position_ids
        return self.m(**kw).logits


class WithPast(torch.nn.Module):
    """Flat past/present tensors around transformers' DynamicCache: the optimum / transformers.js layout."""

    def __init__(self, m, layers, pos):
        super().__init__()
        self.m, self.layers, self.pos = m, layers, pos

    def forward(self, input_ids, attention_mask, *rest):
        from transformers import DynamicCache
        position_ids, past = (rest[0], rest[1:]) if self.pos else (None, rest)
        cache = DynamicCache()
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        kw = dict(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        if self.pos:
            kw['position_ids'] = position_ids
        out = self.m(**kw)
        return (out.logits, *flat_cache(out.past_key_values, self.layers))


def flat_cache(pkv, layers):
    flat = []
    for i in range(layers):
        if hasattr(pkv, 'layers'):
            flat += [pkv.layers[i].keys, pkv.layers[i].values]
        else:
            flat += [pkv.key_cache[i], pkv.value_cache[i]]
    return flat


def export(model, folder, mode, fname='model.onnx'):
    import onnx
    os.makedirs(os.path.join(folder, 'onnx'), exist_ok=True)
    path = os.path.join(folder, 'onnx', fname)
    T = 7
    dev = next(model.parameters()).device
    ids = torch.tensor([IDS[:T]], device=dev)
    am = torch.ones_like(ids)
    pos = torch.arange(T, device=dev)[None]
    use_pos = accepts(model, 'position_ids')
    dyn = {'input_ids': {0: 'batch_size', 1: 'sequence_length'}, 'attention_mask': {0: 'batch_size', 1: 'total_sequence_length'},
           'logits': {0: 'batch_size', 1: 'sequence_length'}}
    if mode == 'kv':
        # The example past comes from the model itself, so every family's cache layout is what it really is.
        L = model.config.num_hidden_layers
        P = 3
        with torch.no_grad():
            first = model(input_ids=torch.tensor([IDS[:P]], device=dev), use_cache=True)
        past = [t.detach().clone() for t in flat_cache(first.past_key_values, L)]
        names_in, names_out = [], []
        for i in range(L):
            names_in += [f'past_key_values.{i}.key', f'past_key_values.{i}.value']
            names_out += [f'present.{i}.key', f'present.{i}.value']
        for n in names_in:
            dyn[n] = {0: 'batch_size', 2: 'past_sequence_length'}
        for n in names_out:
            dyn[n] = {0: 'batch_size', 2: 'total_sequence_length'}
        ids = torch.tensor([IDS[P:P + T]], device=dev)
        am = torch.ones(1, P + T, dtype=torch.long, device=dev)
        pos = torch.arange(P, P + T, device=dev)[None]
        head = [ids, am] + ([pos] if use_pos else [])
        names = ['input_ids', 'attention_mask'] + (['position_ids'] if use_pos else [])
        if use_pos:
            dyn['position_ids'] = {0: 'batch_size', 1: 'sequence_length'}
        torch.onnx.export(WithPast(model, L, use_pos), (*head, *past), path, input_names=names + names_in,
                          output_names=['logits'] + names_out, dynamic_axes=dyn, opset_version=17, dynamo=False)
    else:
        args = (ids, am, pos) if use_pos else (ids, am)
        names = ['input_ids', 'attention_mask'] + (['position_ids'] if use_pos else [])
        if use_pos:
            dyn['position_ids'] = {0: 'batch_size', 1: 'sequence_length'}
        if mode == 'dynamo':
            torch.onnx.export(Plain(model, use_pos), args, path, input_names=names, output_names=['logits'], dynamic_axes=dyn, dynamo=True)
        elif mode == 'dynamo23':
            # Opset 23: scaled_dot_product_attention may become the ONNX Attention operator.
            torch.onnx.export(Plain(model, use_pos), args, path, input_names=names, output_names=['logits'], dynamic_axes=dyn, dynamo=True,
                              opset_version=23)
        else:
            try:
                torch.onnx.export(Plain(model, use_pos), args, path, input_names=names, output_names=['logits'], dynamic_axes=dyn,
                                  opset_version=17, dynamo=False)
            except Exception as e:
                print('legacy export failed, trying dynamo:', type(e).__name__, str(e)[:300], flush=True)
                torch.onnx.export(Plain(model, use_pos), args, path, input_names=names, output_names=['logits'], dynamic_axes=dyn, dynamo=True)
                mode = 'dynamo-fallback'
    m = onnx.load(path)  # pulls in any external data: one self-contained file
    for f in os.listdir(os.path.join(folder, 'onnx')):
        if f != fname and not f.endswith('.onnx'):
            os.remove(os.path.join(folder, 'onnx', f))
    onnx.save(m, path)
    ops = {}
    for n in m.graph.node:
        key = (n.domain + '.' if n.domain else '') + n.op_type
        ops[key] = ops.get(key, 0) + 1
    return path, ops, [o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')], mode


def ort_check(path, model, use_pos):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    T = len(IDS)
    feeds = {}
    for i in s.get_inputs():
        if i.name == 'input_ids':
            feeds[i.name] = np.array([IDS], dtype=np.int64)
        elif i.name == 'attention_mask':
            feeds[i.name] = np.ones((1, T), dtype=np.int64)
        elif i.name == 'position_ids':
            feeds[i.name] = np.arange(T, dtype=np.int64)[None]
        elif i.name.startswith('past'):
            shp = [1 if k == 0 else (0 if not isinstance(d, int) else d) for k, d in enumerate(i.shape)]
            feeds[i.name] = np.zeros(shp, dtype=np.float16 if 'float16' in i.type else np.float32)
    got = s.run(['logits'], feeds)[0].astype(np.float64)
    with torch.no_grad():
        kw = dict(input_ids=torch.tensor([IDS]), attention_mask=torch.ones(1, T, dtype=torch.long), use_cache=False)
        if use_pos:
            kw['position_ids'] = torch.arange(T)[None]
        ref = model.float().cpu()(**kw).logits.numpy().astype(np.float64)
    return float(np.abs(got - ref).max()), float(np.abs(ref).max())


def embed_fn(model):
    """Maps raw rows of the token-embedding table (the Gather output) to the model's inputs_embeds."""
    emb = model.get_input_embeddings()
    scale = getattr(emb, 'embed_scale', None)
    if scale is None:
        return emb.weight, (lambda raw: raw)
    return emb.weight, (lambda raw: raw * scale.to(raw.dtype) if torch.is_tensor(scale) else raw * scale)


def references(model):
    model = copy.deepcopy(model).double().cpu().eval()
    T, P = len(IDS), PROMPT
    A = T - P
    ids = torch.tensor([IDS])
    table, to_inputs = embed_fn(model)
    raw = table[ids[0]].detach().clone()
    use_pos = accepts(model, 'position_ids')

    def run(raw_batch, attentions=False):
        B = raw_batch.shape[0]
        kw = dict(inputs_embeds=to_inputs(raw_batch), attention_mask=torch.ones(B, T, dtype=torch.long), use_cache=False,
                  output_attentions=attentions)
        if use_pos:
            kw['position_ids'] = torch.arange(T)[None].expand(B, T)
        return model(**kw)

    def logp_rows(out):
        lp = out.logits.log_softmax(-1)
        rows = torch.stack([lp[:, P - 1 + t, IDS[P + t]] for t in range(A)], -1)
        foil = torch.stack([lp[:, P - 1 + t, FOIL] for t in range(A)], -1)
        return rows, rows - foil

    x = raw[None].clone().requires_grad_(True)
    out = run(x, attentions=True)
    rows, contrast = logp_rows(out)
    grads = [torch.autograd.grad(rows[0, t], x, retain_graph=True)[0][0] for t in range(A)]
    cgrads = [torch.autograd.grad(contrast[0, t], x, retain_graph=True)[0][0] for t in range(A)]
    res = {'ids': IDS, 'promptLength': P, 'foil': FOIL, 'hidden': raw.shape[1],
           'targetLogProbs': rows[0].tolist(), 'contrastive': contrast[0].tolist(),
           'saliency': [g.norm(dim=-1).tolist() for g in grads],
           'gradXInput': [(g * raw).sum(-1).tolist() for g in grads],
           'contrastiveGradXInput': [(g * raw).sum(-1).tolist() for g in cgrads],
           'sequence': {'saliency': sum(grads).norm(dim=-1).tolist(), 'gradXInput': (sum(grads) * raw).sum(-1).tolist()}}
    if out.attentions is not None and all(a is not None for a in out.attentions):
        res['attentions'] = [a[0].tolist() for a in out.attentions]

    def f_and_grad(points):
        xb = points.clone().requires_grad_(True)
        r, _ = logp_rows(run(xb))
        f = r.sum(-1)
        g = torch.autograd.grad(f.sum(), xb)[0]
        return f.detach(), g

    def ig(baseline, alphas, weights):
        pts = torch.stack([baseline + a * (raw - baseline) for a in alphas])
        f, g = f_and_grad(pts)
        wg = sum(w * g[k] for k, w in enumerate(weights))
        attr = ((raw - baseline) * wg).sum(-1)
        fe, _ = f_and_grad(raw[None])
        fb, _ = f_and_grad(baseline[None])
        delta = float(fe[0] - fb[0])
        return {'attributions': attr.tolist(), 'delta': delta, 'completenessError': abs(float(attr.sum()) - delta) / abs(delta)}

    # Greedy generation from the first 8 ids, with each step's top-two logit margin (near-ties flip in float32).
    with torch.no_grad():
        prompt = torch.tensor([IDS[:8]])
        steps = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False,
                               output_scores=True, return_dict_in_generate=True, pad_token_id=3)
        margins = [float(sc[0].topk(2).values[0] - sc[0].topk(2).values[1]) for sc in steps.scores]
    res['generation'] = {'prompt': IDS[:8], 'ids': steps.sequences[0, 8:].tolist(), 'margins': margins}
    n = 16
    res['ig_zero_midpoint_16'] = ig(torch.zeros_like(raw), [(k + 0.5) / n for k in range(n)], [1 / n] * n)
    xs, ws = np.polynomial.legendre.leggauss(8)
    res['ig_scaled_gauss_8'] = ig(0.1 * raw, [(x + 1) / 2 for x in xs], [w / 2 for w in ws])
    pad = table[3].detach()[None].expand_as(raw).clone()
    xs, ws = np.polynomial.legendre.leggauss(12)
    res['ig_pad_gauss_12'] = ig(pad, [(x + 1) / 2 for x in xs], [w / 2 for w in ws])
    return res


KEPT = ['llama', 'llama-sdpa', 'llama-kv', 'llama-fp16', 'qwen3-dynamo', 'phi3-dynamo', 'gpt2', 'gemma2', 'gemma3_text',
        'bloom', 'falcon', 'opt', 'phi', 'granite', 'gpt2-kv', 'bloom-kv', 'falcon-kv', 'gemma2-kv', 'phi3-kv', 'opt-kv',
        'gpt2-sdpa-opset23']


def main():
    only = [] if sys.argv[1:] == ['--all'] else (sys.argv[1:] or KEPT)
    manifest = {'torch': torch.__version__, 'transformers': transformers.__version__, 'variants': {}}
    jobs = []
    for arch in ARCHS:
        jobs.append((arch, arch, 'legacy', 'eager'))
    jobs += [('llama-sdpa', 'llama', 'legacy', 'sdpa'), ('llama-kv', 'llama', 'kv', 'eager'), ('llama-fp16', 'llama', 'fp16', 'eager')]
    for arch in ['gpt2', 'bloom', 'falcon', 'gemma2', 'phi3', 'opt']:
        jobs.append((f'{arch}-kv', arch, 'kv', 'eager'))
    for arch in ['llama', 'qwen3', 'gpt2']:
        jobs.append((f'{arch}-sdpa-opset23', arch, 'dynamo23', 'sdpa'))
    for arch in ['llama', 'gpt2', 'qwen3', 'gemma2', 'phi3']:
        jobs.append((f'{arch}-dynamo', arch, 'dynamo', 'eager'))
    models = {}
    for name, arch, mode, attn in jobs:
        if only and name not in only:
            continue
        t0 = time.time()
        entry = {'arch': arch, 'exporter': mode, 'attn': attn}
        manifest['variants'][name] = entry
        folder = os.path.join(WORK, name)
        try:
            key = (arch, attn)
            if key not in models:
                torch.manual_seed(sum(map(ord, arch)))
                cfg = make_config(arch)
                model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn).eval()
                models[key] = model
            model = models[key]
            os.makedirs(folder, exist_ok=True)
            model.config.to_json_file(os.path.join(folder, 'config.json'))
            tokenizer_files(folder)
            use_pos = accepts(model, 'position_ids')
            if mode == 'fp16':
                m16 = copy.deepcopy(model).half().cuda()
                path, ops, opset, used = export(m16, folder, 'legacy', 'model_fp16.onnx')
            else:
                path, ops, opset, used = export(copy.deepcopy(model).float(), folder, mode)
            entry.update(ops=ops, opset=opset, exporterUsed=used)
            if mode != 'fp16':
                entry['ortMaxDiff'], entry['logitScale'] = ort_check(path, copy.deepcopy(model), use_pos)
            ref = references(model)
            json.dump(ref, open(os.path.join(folder, 'reference.json'), 'w'))
            entry['ok'] = True
        except Exception as e:
            entry['ok'] = False
            entry['error'] = f'{type(e).__name__}: {e}'[:2000]
            entry['trace'] = traceback.format_exc()[-3000:]
        entry['seconds'] = round(time.time() - t0, 1)
        print(name, 'ok' if entry.get('ok') else 'FAILED ' + entry.get('error', '')[:300], entry['seconds'], 's', flush=True)
        json.dump(manifest, open(os.path.join(WORK, 'manifest.json'), 'w'), indent=1)


def file_log_probs(session):
    """The answer tokens' log-probabilities as the quantized file itself computes them (onnxruntime)."""
    T = len(IDS)
    feeds = {'input_ids': np.array([IDS], dtype=np.int64), 'attention_mask': np.ones((1, T), dtype=np.int64)}
    if 'position_ids' in [i.name for i in session.get_inputs()]:
        feeds['position_ids'] = np.arange(T, dtype=np.int64)[None]
    logits = session.run(['logits'], feeds)[0][0].astype(np.float64)
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return [float(logp[PROMPT - 1 + t, IDS[PROMPT + t]]) for t in range(T - PROMPT)]


def quantized_variants():
    """q8 files as transformers.js makes them (onnxruntime quantize_dynamic), with the q8 file's own log-probabilities."""
    import shutil
    import onnxruntime as ort
    from onnxruntime.quantization import quantize_dynamic, QuantType
    for name, weight_type, per_channel, ops in [('llama', QuantType.QUInt8, True, ['MatMul', 'Gather', 'Gemm']), ('gpt2', QuantType.QInt8, False, None)]:
        src, dst = os.path.join(WORK, name), os.path.join(WORK, f'{name}-q8')
        os.makedirs(os.path.join(dst, 'onnx'), exist_ok=True)
        for f in ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'reference.json']:
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
        path = os.path.join(dst, 'onnx', 'model_quantized.onnx')
        quantize_dynamic(os.path.join(src, 'onnx', 'model.onnx'), path, weight_type=weight_type, per_channel=per_channel, reduce_range=False,
                         op_types_to_quantize=ops)
        rows = file_log_probs(ort.InferenceSession(path, providers=['CPUExecutionProvider']))
        json.dump({'targetLogProbs': rows}, open(os.path.join(dst, 'q8-reference.json'), 'w'))
        print(f'{name}-q8 ok', flush=True)
    # q4: MatMulNBits, block 32 (symmetric for llama, zero points for gpt2), the lm_head included.
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    for name, symmetric in [('llama', True), ('gpt2', False)]:
        src, dst = os.path.join(WORK, name), os.path.join(WORK, f'{name}-q4')
        os.makedirs(os.path.join(dst, 'onnx'), exist_ok=True)
        for f in ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'reference.json']:
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
        quantizer = MatMulNBitsQuantizer(onnx.load(os.path.join(src, 'onnx', 'model.onnx')), block_size=32, is_symmetric=symmetric)
        quantizer.process()
        path = os.path.join(dst, 'onnx', 'model_q4.onnx')
        quantizer.model.save_model_to_file(path, False)
        json.dump({'targetLogProbs': file_log_probs(ort.InferenceSession(path, providers=['CPUExecutionProvider']))}, open(os.path.join(dst, 'q4-reference.json'), 'w'))
        print(f'{name}-q4 ok', flush=True)


if __name__ == '__main__':
    main()
    if sys.argv[1:] in ([], ['--all']):
        quantized_variants()
