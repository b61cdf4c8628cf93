"""KB-Coder (paper 10, arXiv 2309.04695): code-style in-context learning for KBQA.

The LLM writes calls of seven meta-functions (program.py), which are parsed with `ast` and interpreted, never
executed, into a program tree; linking (linking.py) and the ontology's domain/range (ontology.py) turn it into a
GrailQA S-expression (sexpr.py), compiled to SPARQL (sparql.py) and run on a SPARQL store or endpoint
(endpoint.py) with constraint relaxation and a majority vote (execute.py). EM by logical-form graph isomorphism
and answer F1 (metrics.py); GrailQA files, the demo formatter and the prompts (grailqa.py, prompt.py).
"""
