/* Built into a library by the sub-make. */
int foo(void)
{
	return 0;
}
