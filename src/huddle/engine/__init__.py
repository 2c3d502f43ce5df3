"""The record engine: a module declares a `Collection`; the engine validates, stores, pages,
guards, addresses and announces its records (`service.RecordService`), and decides who may
read them (`audiences`). Modules are built on it (`services/` for their rules,
`api/declared/` and `modules/` for their routes); it knows no HTTP."""
