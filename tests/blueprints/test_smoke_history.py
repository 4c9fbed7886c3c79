def test_clerk_sees_own_invoices_only(make, login_as):
    mine = make.company()
    theirs = make.company()
    clerk = make.user(mine)
    own = make.invoice(mine, number="INV-MINE-1")
    other = make.invoice(theirs, number="INV-THEIRS-1")
    client = login_as(clerk)
    page = client.get("/invoices").get_data(as_text=True)
    assert own.number in page
    assert other.number not in page
    assert client.get(f"/invoices/{other.id}").status_code == 404
