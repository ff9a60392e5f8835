//! Backend selection (`--backend auto|ollama|openai|embedded`): builds the `Backend` a command uses
//! and says which was chosen.
