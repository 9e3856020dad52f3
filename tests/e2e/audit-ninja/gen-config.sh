#!/bin/sh
# Writes the generated header of the audit test projects on stdout.
echo '#define GREETING "hello from a generated header"'
echo '#define VERSION_STRING "1.0"'
