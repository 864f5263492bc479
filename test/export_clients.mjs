// export_clients.mjs — the client side of test/test_export.sh: what other
// programs make of our exports. Prints PASS/FAIL/SKIP lines (test/run.sh
// counts them).
//
//   node test/export_clients.mjs texts DIR N      write N random texts DIR/000.txt ...
//   node test/export_clients.mjs check JOB.json   run the checks the job lists
//
// The texts mix ASCII words, contractions ("'s", "know'st", "'S"), numbers,
// punctuation runs, UTF-8 words in several scripts (Latin with accents,
// Cyrillic, Greek, CJK, Hangul, Arabic, Devanagari with its combining marks,
// emoji, Unicode numbers such as "½" "Ⅻ" "٣") and odd whitespace (runs,
// tabs, "\r\n", "\v", "\f", U+00A0, U+2003, U+3000). Not U+0085 or U+FEFF:
// JavaScript's \s and Unicode's White_Space disagree on those two (see
// ultrathink.h, ut__is_white_space), so the regex below is not the judge there.
//
// The checks (JOB.json names the files; test_export.sh writes it):
//   pretok_regex        our chunks (build/export_texts) = GPT-2's regex, run
//                       here by JavaScript's RegExp with Unicode properties
//   llama_tokenize_*    llama.cpp (node-llama-cpp) tokenizes every text to our ids
//   llama_greedy_*      f32 GGUF: 32 greedy tokens from each prompt = ours
//                       (`train sample --temperature 0`), as ids and as text
//   llama_probs_*       f32 GGUF, F32 KV cache, no flash attention: every next-token probability
//                       within 1e-5 of ours (`train sample --probs`)
//   llama_agree_*       f16 / Q8_0 GGUF, fed our tokens: mean KL divergence of
//                       llama.cpp's next-token distribution from ours <= 1e-5
//                       (f16) / 1e-3 (Q8_0); greedy agreement printed, not judged
//   hf_tokenizers_*     @huggingface/tokenizers loads tokenizer.json, encodes
//                       every text to our ids and decodes them back
import fs from "node:fs";
import path from "node:path";

const GPT2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const pass = (name, why = "") => console.log(`PASS ${name}${why ? " " + why : ""}`);
const fail = (name, why = "") => { console.log(`FAIL ${name}${why ? " " + why : ""}`); failed = 1; };
const skip = (name, why) => console.log(`SKIP ${name} (skipped: ${why})`);
let failed = 0;

// ---- random texts -------------------------------------------------------
function rng(seed) {   // xorshift32: the same texts on every machine
    let s = seed >>> 0 || 1;
    return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
const WORDS = ["the", "king", "queen", "lord", "speaks", "crown", "Hello", "JULIET", "Romeo", "x", "a", "I",
    "don't", "know'st", "we're", "they've", "I'm", "you'll", "she'd", "it's", "IT'S", "o'er", "'tis", "rock'n'roll",
    "123", "3.14", "2024", "0", "42nd", "x1", "?!", "...", "--", "(", ")", "\"quoted\"", "[a]", "#", "@", "$5", "%", "&",
    "café", "naïve", "façade", "Ünïcödé", "Привет", "мир", "Ελληνικά", "日本語", "テキスト", "中文", "한국어", "العربية",
    "हिन्दी", "ქართული", "🙂", "👍🏽", "½", "Ⅻ", "٣٤", "①", "²", "—", "«", "»", "…", "€", "ß", "ŉ", "ǅ", "'", "''", "'S"];
const SPACES = [" ", " ", " ", " ", "  ", "   ", "\n", "\n\n", "\n\n\n", "\t", " \t ", "\r\n", "\v", "\f",
    "\u00a0", "\u2003", "\u3000", " \n", "\n ", "\n\n  "];
function randomText(r) {
    const n = 1 + Math.floor(r() * 16);
    let t = r() < 0.2 ? SPACES[Math.floor(r() * SPACES.length)] : "";
    for (let i = 0; i < n; i++) {
        t += WORDS[Math.floor(r() * WORDS.length)];
        if (r() < 0.85) t += SPACES[Math.floor(r() * SPACES.length)];
    }
    return t;
}

// ---- helpers ------------------------------------------------------------
function readDump(file) {   // export_texts output: [{chunks, ids}] per text
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const out = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
        const nums = (l) => l.split(" ").slice(1).map(Number);
        out.push({chunks: nums(lines[i]), ids: nums(lines[i + 1])});
    }
    return out;
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (a) => JSON.stringify(a.slice(0, 24));

async function importOrNull(name) {
    try { return await import(name); } catch (e) { return null; }
}

// ---- the checks ---------------------------------------------------------
async function check(job) {
    const texts = job.texts.map((f) => fs.readFileSync(f, "utf8"));
    const ours = readDump(job.dump);
    if (ours.length !== texts.length) { fail("texts_dump", `${ours.length} dumps for ${texts.length} texts`); return; }

    // 1. pre-tokenization against the regex itself
    let bad = -1;
    texts.forEach((t, i) => {
        const lens = (t.match(GPT2) || []).map((c) => Buffer.byteLength(c, "utf8"));
        if (bad < 0 && !same(lens, ours[i].chunks)) bad = i;
    });
    if (bad < 0) pass("pretok_regex", `(${texts.length} random texts: our chunks = GPT-2's regex)`);
    else fail("pretok_regex", `text ${bad} ${JSON.stringify(texts[bad])}: regex ${show((texts[bad].match(GPT2) || []))} ours ${show(ours[bad].chunks)} (byte lengths)`);

    // 2. Hugging Face tokenizers
    const hf = await importOrNull("@huggingface/tokenizers");
    for (const m of job.models) {
        const name = `hf_tokenizers_${m.name}`;
        if (!hf) { skip(name, "@huggingface/tokenizers not installed: cd test && npm ci --ignore-scripts --omit=optional"); continue; }
        const tj = JSON.parse(fs.readFileSync(path.join(m.hf, "tokenizer.json"), "utf8"));
        const tc = JSON.parse(fs.readFileSync(path.join(m.hf, "tokenizer_config.json"), "utf8"));
        const tok = new hf.Tokenizer(tj, tc);
        let encBad = -1, decBad = -1;
        texts.forEach((t, i) => {
            const ids = tok.encode(t, {add_special_tokens: false}).ids;
            if (encBad < 0 && !same(ids, ours[i].ids)) encBad = i;
            if (decBad < 0 && tok.decode(ours[i].ids, {skip_special_tokens: false, clean_up_tokenization_spaces: false}) !== t) decBad = i;
        });
        if (encBad < 0) pass(`${name}_encode`, `(${texts.length} texts: tokenizer.json encodes to our ids)`);
        else fail(`${name}_encode`, `text ${encBad} ${JSON.stringify(texts[encBad])}: hf ${show(tok.encode(texts[encBad], {add_special_tokens: false}).ids)} ours ${show(ours[encBad].ids)}`);
        if (decBad < 0) pass(`${name}_decode`, `(${texts.length} texts: our ids decode back to the text)`);
        else fail(`${name}_decode`, `text ${decBad} ${JSON.stringify(texts[decBad])}`);
    }

    // 3. llama.cpp
    const nl = await importOrNull("node-llama-cpp");
    if (!nl) {
        for (const m of job.models) skip(`llama_${m.name}`, "node-llama-cpp not installed: cd test && npm ci --ignore-scripts --omit=optional");
        return;
    }
    let llama, cpuVariant = "unknown";
    try {
        // The logger keeps the name of the CPU variant llama.cpp loaded (its
        // prebuilt binary carries one per instruction set: haswell, icelake,
        // sapphirerapids, ...; the kernels, hence the rounding, differ), for
        // the messages below; llama.cpp's errors still go to stderr.
        const important = new Set([nl.LlamaLogLevel.fatal, nl.LlamaLogLevel.error]);
        llama = await nl.getLlama({gpu: false, build: "never", logLevel: nl.LlamaLogLevel.log,
            logger: (level, message) => {
                const v = /libggml-cpu-([\w-]+)\.so/.exec(message);
                if (v && /load_backend/.test(message)) cpuVariant = v[1];
                else if (important.has(level)) process.stderr.write(message);
            }});
    } catch (e) {
        for (const m of job.models) skip(`llama_${m.name}`, `node-llama-cpp has no prebuilt binary for this machine: ${String(e.message).split("\n")[0]}`);
        return;
    }
    for (const m of job.models) {
        const V = m.vocab;
        // tokenization, with the f32 file
        let model;
        try { model = await llama.loadModel({modelPath: m.gguf.f32, gpuLayers: 0}); }
        catch (e) { fail(`llama_load_${m.name}`, String(e.message).split("\n")[0]); continue; }
        pass(`llama_load_${m.name}`, `(${path.basename(m.gguf.f32)}: ${model.fileInfo.metadata.general.architecture}, ${m.name})`);
        // (No check of llama.cpp's detokenize: for the "gpt-2" pre-tokenizer it
        // cleans up spaces, " '" -> "'" and " ?" -> "?", as Hugging Face's
        // clean_up_tokenization_spaces does; llama-cli prints each token's own
        // bytes, which the greedy check below compares.)
        let tokBad = -1;
        texts.forEach((t, i) => {
            const ids = Array.from(model.tokenize(t, false));
            if (tokBad < 0 && !same(ids, ours[i].ids)) tokBad = i;
        });
        if (tokBad < 0) pass(`llama_tokenize_${m.name}`, `(${texts.length} texts: llama.cpp's ids = ours)`);
        else fail(`llama_tokenize_${m.name}`, `text ${tokBad} ${JSON.stringify(texts[tokBad])}: llama ${show(Array.from(model.tokenize(texts[tokBad], false)))} ours ${show(ours[tokBad].ids)}`);
        await model.dispose();

        for (const dtype of ["f32", "f16", "q8_0"].filter((d) => m.gguf[d])) {   // the files the job lists
            const mod = await llama.loadModel({modelPath: m.gguf[dtype], gpuLayers: 0});
            let agree = 0, agreeForced = 0, total = 0, maxDiff = 0, probsSeen = 0, textsEqual = 0;
            let klSum = 0, klMax = 0, worst = "";
            const lines = [];
            for (const pf of m.prompts) {
                // `train sample` printed the prompt, the continuation and a newline
                const text = fs.readFileSync(pf.file, "utf8"), out = fs.readFileSync(pf.out, "utf8");
                const p = {text, sample: out.slice(text.length, out.endsWith("\n") ? -1 : undefined), probs: pf.probs};
                const ourProbs = new Float32Array(fs.readFileSync(p.probs).buffer.slice(0));
                const n = ourProbs.length / V;
                const ourIds = [];
                for (let s = 0; s < n; s++) {
                    let best = 0;
                    for (let v = 1; v < V; v++) if (ourProbs[s * V + v] > ourProbs[s * V + best]) best = v;
                    ourIds.push(best);
                }
                // F32 KV cache and no flash attention: llama.cpp's CPU flash
                // attention rounds through f16 (~1e-4 here), as its default F16
                // cache does (~1e-3)
                // temperature 1 and no top-k/top-p/min-p: the raw softmax; we pick
                // the argmax ourselves and feed a token back: llama.cpp's own
                // choice (free-running greedy decoding), or, for f16/q8_0, also
                // ours (teacher-forced: does llama.cpp pick our next token at
                // each step, without an early difference carrying on?)
                const run = async (forced) => {
                    // F32 KV cache and no flash attention: llama.cpp's CPU flash
                    // attention rounds through f16 (~1e-4 here), as its default
                    // F16 cache does (~1e-3)
                    const ctx = await mod.createContext({contextSize: m.ctx, threads: 1, flashAttention: false,
                        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
                    const seq = ctx.getSequence();
                    const out = [];
                    const it = seq.evaluateWithMetadata(Array.from(mod.tokenize(p.text, false)), {probabilities: true},
                        {temperature: 1, topK: 0, topP: 1, minP: 0});
                    let r = await it.next();
                    while (!r.done && out.length < n) {
                        const probs = r.value.probabilities;
                        let best = -1, bp = -1;
                        for (const [t, pr] of probs) if (pr > bp || (pr === bp && t < best)) { bp = pr; best = t; }
                        // f32: free-running (the same tokens as ours, as the
                        // greedy check requires); f16/q8_0: teacher-forced, so
                        // each position has exactly our prefix
                        if ((dtype === "f32") !== forced) {
                            const s = out.length;
                            let kl = 0;
                            for (let v = 0; v < V; v++) {
                                const q = probs.get(v) ?? 0, p = ourProbs[s * V + v];
                                const d = Math.abs(q - p);
                                if (d > maxDiff) { maxDiff = d; worst = `position ${total + s}, token ${v}: ${q.toFixed(4)}, ours ${p.toFixed(4)}`; }
                                if (p > 0) kl += p * Math.log(p / Math.max(q, 1e-30));
                            }
                            klSum += kl; if (kl > klMax) klMax = kl;
                            probsSeen += probs.size;
                        }
                        out.push(best);
                        if (out.length < n) r = await it.next(forced ? ourIds[out.length - 1] : best);
                    }
                    await it.return();
                    await ctx.dispose();
                    return out;
                };
                const got = await run(false);
                if (dtype !== "f32") {
                    const f = await run(true);
                    for (let s = 0; s < n; s++) agreeForced += f[s] === ourIds[s];
                }
                for (let s = 0; s < n; s++) agree += got[s] === ourIds[s];
                total += n;
                const cont = mod.detokenize(got, false);
                if (cont === p.sample) textsEqual++;
                else lines.push(`prompt ${JSON.stringify(p.text)}: llama.cpp ${JSON.stringify(cont)} ours ${JSON.stringify(p.sample)}`);
            }
            await mod.dispose();
            const tag = `${m.name}_${dtype}`;
            if (dtype === "f32") {
                if (agree === total && textsEqual === m.prompts.length)
                    pass(`llama_greedy_${tag}`, `(${m.prompts.length} prompts x ${total / m.prompts.length} tokens: ids and text = train sample --temperature 0)`);
                else fail(`llama_greedy_${tag}`, `${agree}/${total} tokens equal; ${lines.join("; ")}`);
                const full = probsSeen === total * V;
                if (maxDiff <= 1e-5 && full) pass(`llama_probs_${tag}`, `(max |p_llama - p_ours| = ${maxDiff.toExponential(2)} over ${total} positions x ${V} tokens, F32 KV cache; bound 1e-5)`);
                else fail(`llama_probs_${tag}`, `max |p_llama - p_ours| = ${maxDiff.toExponential(2)} at ${worst} (bound 1e-5)${full ? "" : `; llama.cpp gave ${probsSeen} of ${total * V} probabilities`}`);
            } else {
                // The check is on probabilities, teacher-forced: every position
                // sees our prefix, and the mean KL divergence of llama.cpp's
                // next-token distribution from ours, KL(p_ours || p_llama) =
                // sum_v p_v log(p_v / q_v), must stay under the bound. Measured
                // on this test's models: f16 ~1e-8, Q8_0 ~1e-5 (f16 rounds each
                // weight to 11 bits; Q8_0 to 8 bits per block of 32, and
                // llama.cpp also rounds the activations to Q8_0 before each
                // product). A wrong scale, block layout or row order gives 0.1
                // or more. The bounds leave a factor of 100 for llama.cpp's
                // kernels on other CPUs. The largest probability difference and
                // how often llama.cpp's choice is ours are printed, not judged:
                // a tiny model has near-ties (two tokens within 1e-3), where
                // rounding picks either one.
                const bound = dtype === "f16" ? 1e-5 : 1e-3, full = probsSeen === total * V, kl = klSum / total;
                const pct = (x) => (100 * x / total).toFixed(1) + "%";
                const info = `KL(ours || llama.cpp) mean ${kl.toExponential(2)} (bound ${bound.toExponential(0)}), max ${klMax.toExponential(2)} ` +
                    `over ${total} teacher-forced positions x ${V} tokens; max |p_llama - p_ours| ${maxDiff.toExponential(2)} (${worst}); ` +
                    `next-token choice = ours at ${agreeForced}/${total} = ${pct(agreeForced)}, free-running greedy ${agree}/${total} = ${pct(agree)}; ` +
                    `llama.cpp CPU variant ${cpuVariant}`;
                if (kl <= bound && full) pass(`llama_agree_${tag}`, `(${info})`);
                else fail(`llama_agree_${tag}`, info + (full ? "" : `; llama.cpp gave ${probsSeen} of ${total * V} probabilities`));
            }
        }
    }
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "texts") {
    const r = rng(20261201);
    fs.mkdirSync(a, {recursive: true});
    for (let i = 0; i < Number(b); i++) fs.writeFileSync(path.join(a, String(i).padStart(3, "0") + ".txt"), randomText(r));
} else if (mode === "check") {
    await check(JSON.parse(fs.readFileSync(a, "utf8")));
    process.exitCode = failed;
} else {
    console.error("usage: export_clients.mjs texts DIR N | check JOB.json");
    process.exitCode = 2;
}
