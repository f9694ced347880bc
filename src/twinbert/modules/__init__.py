"""The modules a SentenceEncoder runs in order: Transformer (tokenizer + backbone) -> Pooling -> [Dense ...]
-> [Normalize], as sentence-transformers has them. Every module has one small contract:

  kind               its type name in modules.json ("Transformer", "Pooling", "Dense", "Normalize")
  config()           its settings, as its config file holds them (`config_keys` lists them)
  load(folder)       built from its folder (`from_config(config, path)` where the config alone is enough)
  save(folder)       writes its own files into its (existing, empty) folder
  forward(features)  features dict in, the same dict out: input_ids / attention_mask -> token_embeddings
                     (Transformer) -> sentence_embedding (Pooling, then Dense and Normalize in place)

Only this package tokenizes (Transformer.tokenize / pieces): the seam for new tokenizers and backends.
"""
