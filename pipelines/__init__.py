"""The jobs users run end to end; each calls the library, none holds logic of its own."""
