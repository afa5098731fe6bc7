"""`python -m req_llm_gateway serve ...`"""

from .cli import main

raise SystemExit(main())
