"""Staff accounts, API keys, sign-in: storage, hashing, tokens, HTTP."""
