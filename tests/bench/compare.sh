#!/bin/bash
echo "compare.sh: being written" >&2
exit 77
