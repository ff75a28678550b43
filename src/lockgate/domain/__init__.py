"""Pure data: the product's nouns. Imports nothing of ours."""
