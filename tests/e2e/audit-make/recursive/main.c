/* Linked with the library the sub-make builds. */
int foo(void);

int main(void)
{
	return foo();
}
