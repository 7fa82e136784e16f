import FinchLang

/// What each parameter of the model, data, training and Hub built-ins means, for `help(name)` and `:help name`.
/// Kept apart from the registrations so a binding stays readable; a test checks that every parameter of
/// these built-ins is explained here. Returns the documented names that are not parameters (none, normally).
@discardableResult
func documentBindingParameters(_ r: BuiltinRegistry) -> [String] {
    var unknown: [String] = []
    let generation: KeyValuePairs<String, String> = [
        "max_tokens": "the most new tokens to generate",
        "temperature": "0 picks the likeliest token (greedy); higher samples more freely",
        "top_k": "sample among the k likeliest tokens only (0: no limit)",
        "top_p": "sample among the likeliest tokens whose probabilities add up to top_p (1: no limit)",
        "min_p": "drop tokens less likely than min_p × the likeliest one (0: none dropped)",
        "repetition_penalty": "above 1 makes tokens already in the text less likely (1: off)",
        "seed": "the sampling seed (the same seed, prompt and settings give the same text)",
        "stop": "a string, or a list of strings, that ends generation (not part of the result)",
        "stream": "print the text as it is generated; Ctrl-C stops and keeps the text so far",
    ]
    func doc(_ name: String, _ docs: KeyValuePairs<String, String>) { unknown += r.document(name, docs) }

    doc("load_model", [
        "source": "a .gguf file, a Hugging Face folder, a Hub id \"org/name\", or none for the embedded SmolLM2-135M-Instruct",
        "dtype": "\"f32\", \"f16\" or \"bf16\" for the weights of a safetensors model (none: as stored)",
        "quantize": "\"q8_0\", \"q4_0\" or \"q4_1\": quantize the projections on load (QLoRA-style training on top)",
        "max_seq_length": "the longest sequence to generate or train on (none: the model's context, at most 2048 for training)",
        "device": "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\" (none: FINCH_DEVICE or auto)",
        "file": "which GGUF file of a Hub repo, a glob such as \"*Q4_K_M.gguf\" (needed when the repo holds several)",
    ])
    doc("tokenize", ["model": "the Model whose tokenizer is used", "text": "the text to split into token ids"])
    doc("detokenize", ["model": "the Model whose tokenizer is used", "ids": "a list of token ids"])
    doc("template", [
        "model": "the Model whose chat template is applied",
        "messages": "a user message string, or a list of {\"role\": …, \"content\": …} dicts",
        "add_generation_prompt": "end with the assistant's turn opening, ready for generation",
    ])
    doc("generate", ["model": "the Model to generate with", "prompt": "plain text to continue (no chat template; chat() applies it)"])
    doc("generate", generation)
    doc("chat", [
        "model": "the Model to chat with (its chat template is applied)",
        "message": "the user message, or a list of {\"role\": …, \"content\": …} dicts for a whole conversation",
        "system": "a system message put first (none: the template's default)",
    ])
    doc("chat", generation)
    doc("logprobs", ["model": "the Model to score with", "text": "the text whose tokens are scored"])
    doc("prompt_style", [
        "prompt": "the prompt template, with {Field} placeholders filled from each row's columns",
        "response": "the response template; train_on=\"responses\" trains on this part only",
        "eos": "text appended after the response (none: the model's end-of-sequence token when model= is given)",
        "model": "a Model whose end-of-sequence token ends each training text",
    ])
    doc("lora", [
        "model": "the Model to add adapters to; it is changed in place (and returned)",
        "r": "the adapter rank: more is more capacity and memory",
        "alpha": "the scaling numerator: updates are scaled by alpha / r (alpha / √r with rslora)",
        "dropout": "dropout on the adapter's input while training (0: off)",
        "targets": "which projections get adapters, e.g. [\"q_proj\", \"v_proj\"]",
        "rslora": "rank-stabilised LoRA scaling, alpha / √r",
        "seed": "seed for the adapters' random initialisation",
        "replace": "replace an adapter that was trained or loaded (otherwise refused, naming what would be lost)",
    ])
    doc("load_adapter", [
        "model": "the Model the adapter was trained for; changed in place",
        "path": "a PEFT adapter folder (adapter_config.json + adapter_model.safetensors), or a Hub repo id \"org/name\" holding one (downloaded into the Hub cache)",
        "trainable": "whether train() goes on training it (false: frozen, inference only)",
        "replace": "replace an adapter that was trained or loaded (otherwise refused, naming what would be lost)",
        "revision": "with a Hub repo id: the branch, tag or commit to load",
    ])
    doc("train", [
        "model": "the Model with LoRA adapters (lora(m) or load_adapter) to train in place",
        "data": "a Dataset whose text column (text_field) holds one training text per row",
        "steps": "optimizer steps to run (none: as many as epochs= takes)",
        "epochs": "passes over the data when steps= is not given (default 1)",
        "batch_size": "rows per micro-batch",
        "grad_accum": "micro-batches whose gradients add up to one optimizer step",
        "lr": "the peak learning rate",
        "optimizer": "\"adamw\" or \"sgd\"",
        "weight_decay": "decoupled weight decay (none: 0.01 with adamw, 0 with sgd)",
        "momentum": "momentum for sgd",
        "schedule": "the learning-rate schedule after warmup: \"linear\", \"cosine\" or \"constant\"",
        "warmup": "steps of linear warmup from 0 to lr",
        "max_grad_norm": "clip the gradient to this norm (none: no clipping)",
        "seed": "seed for shuffling and dropout (the same seed gives the same run)",
        "max_seq_length": "longer texts are cut to this many tokens (none: the model's, at most 2048)",
        "packing": "pack several short texts into each sequence (fewer pad tokens, faster)",
        "text_field": "the column that holds the training text",
        "train_on": "which tokens count in the loss: \"responses\" (only the response of rows mapped through a prompt_style), \"all\", or \"auto\" (responses when the rows have them, else all)",
        "eval": "a Dataset to measure the loss on while training (it is not trained on)",
        "eval_every": "evaluate every N steps (none: five times per run when eval= is given)",
        "early_stop": "stop when the eval loss has not improved for this many evaluations (needs eval=)",
        "gradient_checkpointing": "\"auto\", \"on\" or \"off\": recompute activations in the backward pass to save memory",
        "checkpoint_every": "save a resumable checkpoint every N steps (Ctrl-C always saves one)",
        "checkpoint_dir": "where checkpoints go (none: checkpoints/MODEL)",
        "resume": "a checkpoint folder to continue from, as printed when training was interrupted",
        "devices": "none or \"cpu\": the model's own device; \"all\" or [0, 1]: data parallel over those GPUs (batch_size per GPU; not yet run on several GPUs)",
    ])
    doc("save", [
        "model": "the Model whose adapter (or merged weights) is saved",
        "path": "the folder (or .gguf file) to write; missing parent folders are created",
        "format": "\"adapter\" (PEFT), \"merged\" (Hugging Face safetensors with the adapter folded in) or \"gguf\"",
        "dtype": "the merged weights' type for format=\"merged\": \"bf16\", \"f16\" or \"f32\"",
        "quantize": "the tensor type for format=\"gguf\": \"q8_0\", \"q4_0\", \"f16\" or \"f32\"",
    ])
    doc("track", [
        "project": "the runs/PROJECT folder that groups runs",
        "run": "the run's name (none: a time stamp)",
        "config": "a dict recorded with the run (hyper-parameters, notes)",
    ])
    doc("plot", ["result": "the TrainResult that train() returned", "title": "the chart's title"])
    doc("secret", [
        "name": "the secret's name in Finch's store (finch secrets set NAME) or the environment",
        "required": "false gives none instead of an error when the secret is not set",
    ])
    doc("login", ["token": "secret(\"HF_TOKEN\"), a token string (it then sits in the notebook), or none for HF_TOKEN / the stored token"])
    doc("push", [
        "source": "a saved folder, or a Model (its adapter is saved and pushed)",
        "repo": "the Hub repo \"user/name\" (created when missing)",
        "private": "create the repo private",
        "message": "the commit message",
        "token": "a secret() to push with (none: the logged-in token)",
    ])
    doc("load_dataset", [
        "source": "a Hub dataset id \"org/name\", or a local .json/.jsonl/.csv file or folder",
        "name": "the dataset's config (subset), e.g. \"en\", when its card defines several",
        "split": "which split, with an optional slice: \"train\", \"test[:100]\", \"train[10%:]\"",
    ])
    return unknown
}
