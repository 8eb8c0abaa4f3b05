"""The use cases: decisions about connecting, linking and creating. No Flask here."""
