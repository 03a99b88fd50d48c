"""Experts: the expert pool (专家库) and verifiable panel draws (随机抽取)."""
