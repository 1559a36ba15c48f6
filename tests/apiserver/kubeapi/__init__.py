"""kubeapi: an in-process imitation of kube-apiserver for tests (see ../kube_apiserver.py)."""
