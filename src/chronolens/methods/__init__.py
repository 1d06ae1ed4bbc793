"""Attribution methods: each a plain function registered in :mod:`chronolens.registry`."""
